//! The sticky algorithm when subscriptions differ (Java's
//! `GeneralAssignmentBuilder`, without rack awareness).
//!
//! 1. Keep every owned partition the member still subscribes to.
//! 2. Give each remaining partition (topics with the fewest subscribers
//!    first) to its least-loaded subscriber.
//! 3. While some partition could go to a subscriber with two or more fewer
//!    partitions than its owner, move one: back to the member that owned it
//!    in an older generation if that one is lighter, else to the
//!    least-loaded subscriber. Movements that would form a cycle between two
//!    members are avoided by moving the partition that came the other way.
//! 4. Keep the result only if it is better balanced than before step 3
//!    (unless nothing was owned before).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use sluice_fetch::TopicPartition;

use super::{DEFAULT_GENERATION, Group, MemberData, all_partitions};

/// Per member index, its partitions.
pub(super) fn assign(
    group: &Group<'_>,
    topics: &BTreeMap<Arc<str>, i32>,
    owned: Vec<Vec<TopicPartition>>,
    data: &[MemberData],
) -> Vec<Vec<TopicPartition>> {
    let mut builder = Builder::new(group, topics, owned);
    builder.previous_owners(data);
    builder.run();
    builder.current
}

struct Builder<'a, 'g> {
    group: &'a Group<'g>,
    topics: &'a BTreeMap<Arc<str>, i32>,
    /// Topic to the members subscribing to it.
    topic_members: HashMap<Arc<str>, Vec<usize>>,
    /// Per member, the most partitions it could hold.
    max_size: Vec<usize>,
    /// Per member, its partitions now.
    current: Vec<Vec<TopicPartition>>,
    /// Partition to its member now.
    owner: HashMap<TopicPartition, usize>,
    /// Members taking part in balancing, by (partition count, id order).
    sorted: BTreeSet<(usize, usize)>,
    /// Members taking part in balancing (not fixed).
    active: Vec<bool>,
    /// Partition to the member (and generation) that owned it in the newest
    /// generation older than the current one.
    previous: HashMap<TopicPartition, (usize, i32)>,
    /// All partitions, topics with the fewest subscribers first.
    sorted_partitions: Vec<TopicPartition>,
    revocation_required: bool,
    movements: Movements,
    /// `is_balanced` of the current state, until the next move.
    balanced_cache: Option<bool>,
}

impl<'a, 'g> Builder<'a, 'g> {
    fn new(
        group: &'a Group<'g>,
        topics: &'a BTreeMap<Arc<str>, i32>,
        owned: Vec<Vec<TopicPartition>>,
    ) -> Self {
        let n = group.len();
        let mut topic_members: HashMap<Arc<str>, Vec<usize>> =
            topics.keys().map(|t| (t.clone(), Vec::new())).collect();
        for &i in &group.java_order {
            for t in &group.topics[i] {
                if let Some(members) = topic_members.get_mut(t) {
                    members.push(i);
                }
            }
        }
        let max_size = (0..n)
            .map(|i| {
                group.topics[i]
                    .iter()
                    .map(|t| topics.get(t).copied().unwrap_or(0) as usize)
                    .sum()
            })
            .collect();
        let mut sorted_topics: Vec<(&Arc<str>, i32)> =
            topics.iter().map(|(t, &c)| (t, c)).collect();
        sorted_topics.sort_by(|a, b| {
            topic_members[a.0]
                .len()
                .cmp(&topic_members[b.0].len())
                .then_with(|| a.0.cmp(b.0))
        });
        let mut builder = Builder {
            group,
            topics,
            topic_members,
            max_size,
            current: vec![Vec::new(); n],
            owner: HashMap::new(),
            sorted: BTreeSet::new(),
            active: vec![true; n],
            previous: HashMap::new(),
            sorted_partitions: all_partitions(sorted_topics),
            revocation_required: false,
            movements: Movements::default(),
            balanced_cache: None,
        };
        for (i, partitions) in owned.into_iter().enumerate() {
            for tp in partitions {
                if group.topics[i].contains(&tp.topic) {
                    builder.owner.insert(tp.clone(), i);
                    builder.current[i].push(tp);
                } else {
                    // No longer subscribed: it must be revoked.
                    builder.revocation_required = true;
                }
            }
        }
        builder
    }

    /// Java's `prepopulateCurrentAssignments`: members of generations older
    /// than the newest are remembered as previous owners.
    fn previous_owners(&mut self, data: &[MemberData]) {
        let max_generation = data
            .iter()
            .map(|d| d.generation.unwrap_or(DEFAULT_GENERATION))
            .max()
            .unwrap_or(DEFAULT_GENERATION);
        for &i in &self.group.java_order {
            let generation = data[i].generation.unwrap_or(DEFAULT_GENERATION);
            if generation >= max_generation {
                continue;
            }
            for tp in &data[i].partitions {
                match self.previous.get(tp) {
                    Some(&(_, g)) if g >= generation => {}
                    _ => {
                        self.previous.insert(tp.clone(), (i, generation));
                    }
                }
            }
        }
    }

    fn key(&self, member: usize) -> (usize, usize) {
        (self.current[member].len(), self.group.rank[member])
    }

    fn subscribes(&self, member: usize, topic: &Arc<str>) -> bool {
        self.group.topics[member].contains(topic)
    }

    fn run(&mut self) {
        let unassigned: Vec<TopicPartition> = self
            .sorted_partitions
            .iter()
            .filter(|tp| !self.owner.contains_key(*tp))
            .cloned()
            .collect();
        for member in 0..self.group.len() {
            self.sorted.insert(self.key(member));
        }
        let initializing = self.current.iter().all(Vec::is_empty);

        for tp in &unassigned {
            let Some(&(_, rank)) = self
                .sorted
                .iter()
                .find(|&&(_, rank)| self.subscribes(self.by_rank(rank), &tp.topic))
            else {
                continue;
            };
            let member = self.by_rank(rank);
            self.sorted.remove(&self.key(member));
            self.current[member].push(tp.clone());
            self.owner.insert(tp.clone(), member);
            self.sorted.insert(self.key(member));
        }

        // Only partitions of topics with two or more subscribers can move,
        // and only members that could hold more, or hold such partitions.
        let movable = |b: &Self, t: &Arc<str>| b.topic_members.get(t).is_some_and(|m| m.len() >= 2);
        let reassignable: Vec<TopicPartition> = self
            .sorted_partitions
            .iter()
            .filter(|tp| movable(self, &tp.topic))
            .cloned()
            .collect();
        let unassigned: Vec<TopicPartition> = unassigned
            .into_iter()
            .filter(|tp| movable(self, &tp.topic))
            .collect();
        for member in 0..self.group.len() {
            let participates = self.current[member].len() < self.max_size[member]
                || self.current[member]
                    .iter()
                    .any(|tp| movable(self, &tp.topic));
            if !participates {
                self.sorted.remove(&self.key(member));
                self.active[member] = false;
            }
        }

        let before = self.current.clone();
        let before_owner = self.owner.clone();
        if !self.revocation_required {
            self.perform_reassignments(&unassigned);
        }
        let performed = self.perform_reassignments(&reassignable);
        if !initializing
            && performed
            && self.balance_score(&self.current) >= self.balance_score(&before)
        {
            self.current = before;
            self.owner = before_owner;
        }
    }

    fn by_rank(&self, rank: usize) -> usize {
        self.group.by_rank[rank]
    }

    /// Sum over pairs of active members of the difference of their counts.
    fn balance_score(&self, assignment: &[Vec<TopicPartition>]) -> usize {
        let mut counts: Vec<usize> = (0..assignment.len())
            .filter(|&m| self.active[m])
            .map(|m| assignment[m].len())
            .collect();
        counts.sort_unstable();
        let mut score = 0;
        let mut prefix = 0;
        for (i, &c) in counts.iter().enumerate() {
            score += c * i - prefix;
            prefix += c;
        }
        score
    }

    /// True when no partition can move to a subscriber with two or more
    /// fewer partitions than its owner.
    fn is_balanced(&mut self) -> bool {
        if let Some(b) = self.balanced_cache {
            return b;
        }
        let b = self.compute_balanced();
        self.balanced_cache = Some(b);
        b
    }

    fn compute_balanced(&self) -> bool {
        let (Some(&(min, _)), Some(&(max, _))) = (self.sorted.first(), self.sorted.last()) else {
            return true;
        };
        if min + 1 >= max {
            return true;
        }
        for &(count, rank) in &self.sorted {
            let member = self.by_rank(rank);
            if count == self.max_size[member] {
                continue;
            }
            for topic in &self.group.topics[member] {
                let partitions = self.topics.get(topic).copied().unwrap_or(0);
                for p in 0..partitions {
                    let tp = TopicPartition::new(topic.clone(), p);
                    if let Some(&other) = self.owner.get(&tp)
                        && other != member
                        && self.active[other]
                        && count + 1 < self.current[other].len()
                    {
                        return false;
                    }
                }
            }
        }
        true
    }

    fn perform_reassignments(&mut self, partitions: &[TopicPartition]) -> bool {
        let mut performed = false;
        // Each pass either moves something or ends the loop; the cap only
        // guards against a cycle the Java algorithm is not known to have.
        let max_passes = partitions.len() * 4 + 16;
        for _ in 0..max_passes {
            let mut modified = false;
            for tp in partitions {
                if self.is_balanced() {
                    break;
                }
                let Some(&member) = self.owner.get(tp) else {
                    continue;
                };
                let size = self.current[member].len();
                if let Some(&(previous, _)) = self.previous.get(tp) {
                    if previous != member
                        && self.active[previous]
                        && self.subscribes(previous, &tp.topic)
                        && size > self.current[previous].len() + 1
                    {
                        self.reassign(tp, previous);
                        performed = true;
                        modified = true;
                        continue;
                    }
                }
                let lighter_exists = self.topic_members[&tp.topic]
                    .iter()
                    .any(|&other| self.active[other] && size > self.current[other].len() + 1);
                if lighter_exists {
                    let target = self
                        .sorted
                        .iter()
                        .map(|&(_, rank)| self.by_rank(rank))
                        .find(|&m| self.subscribes(m, &tp.topic));
                    if let Some(target) = target {
                        self.reassign(tp, target);
                        performed = true;
                        modified = true;
                    }
                }
            }
            if !modified {
                break;
            }
        }
        performed
    }

    fn reassign(&mut self, tp: &TopicPartition, to: usize) {
        let Some(&from) = self.owner.get(tp) else {
            return;
        };
        let actual = self.movements.partition_to_move(tp, from, to);
        self.move_partition(&actual, to);
    }

    fn move_partition(&mut self, tp: &TopicPartition, to: usize) {
        let Some(&from) = self.owner.get(tp) else {
            return;
        };
        if from == to {
            return;
        }
        self.sorted.remove(&self.key(from));
        self.sorted.remove(&self.key(to));
        self.movements.record(tp, from, to);
        if let Some(pos) = self.current[from].iter().position(|p| p == tp) {
            self.current[from].remove(pos);
        }
        self.current[to].push(tp.clone());
        self.owner.insert(tp.clone(), to);
        self.sorted.insert(self.key(to));
        self.sorted.insert(self.key(from));
        self.balanced_cache = None;
    }
}

/// (from, to) to the partitions of one topic that moved so.
type PairMovements = HashMap<(usize, usize), BTreeSet<TopicPartition>>;

/// Java's `PartitionMovements`: where each moved partition came from, so a
/// later move in the opposite direction between the same two members moves
/// the same partition back instead of another one of the topic.
#[derive(Default)]
struct Movements {
    /// Partition to (first owner, current owner).
    by_partition: HashMap<TopicPartition, (usize, usize)>,
    /// Topic to (from, to) to the partitions that moved so.
    by_topic: HashMap<Arc<str>, PairMovements>,
}

impl Movements {
    fn remove(&mut self, tp: &TopicPartition) -> Option<(usize, usize)> {
        let pair = self.by_partition.remove(tp)?;
        if let Some(topic) = self.by_topic.get_mut(&tp.topic) {
            if let Some(set) = topic.get_mut(&pair) {
                set.remove(tp);
                if set.is_empty() {
                    topic.remove(&pair);
                }
            }
            if topic.is_empty() {
                self.by_topic.remove(&tp.topic);
            }
        }
        Some(pair)
    }

    fn add(&mut self, tp: &TopicPartition, pair: (usize, usize)) {
        self.by_partition.insert(tp.clone(), pair);
        self.by_topic
            .entry(tp.topic.clone())
            .or_default()
            .entry(pair)
            .or_default()
            .insert(tp.clone());
    }

    fn record(&mut self, tp: &TopicPartition, from: usize, to: usize) {
        match self.remove(tp) {
            Some((origin, _)) => {
                if origin != to {
                    self.add(tp, (origin, to));
                }
            }
            None => self.add(tp, (from, to)),
        }
    }

    fn partition_to_move(&self, tp: &TopicPartition, from: usize, to: usize) -> TopicPartition {
        let Some(topic) = self.by_topic.get(&tp.topic) else {
            return tp.clone();
        };
        let from = self
            .by_partition
            .get(tp)
            .map_or(from, |&(origin, _)| origin);
        topic
            .get(&(to, from))
            .and_then(|set| set.first())
            .cloned()
            .unwrap_or_else(|| tp.clone())
    }
}
