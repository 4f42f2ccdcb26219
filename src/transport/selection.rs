//! Server selection: which member of a replica set a command goes to, by read preference —
//! the rules of the server selection specification for a replica set with a primary.

use std::time::Duration;

use bson::Document;

use crate::errors::{Error, ErrorKind, Result};
use crate::options::{ReadPreference, SelectionCriteria};

/// How often members are assumed to be checked; staleness estimates include it.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// The smallest `maxStalenessSeconds` the specification allows.
const SMALLEST_MAX_STALENESS: Duration = Duration::from_secs(90);

/// What selection knows of a member.
#[derive(Debug, Clone)]
pub(crate) struct Candidate<'a> {
    /// Its position in the set.
    pub index: usize,
    /// Whether it is the primary.
    pub primary: bool,
    /// Its tags.
    pub tags: &'a Document,
    /// When it last applied a write, in seconds.
    pub last_write_secs: i64,
}

/// The member a command with this read preference goes to (`None`: the primary).
/// `pick(n)` chooses one of `n` equally suitable members.
pub(crate) fn select(
    candidates: &[Candidate<'_>],
    preference: Option<&ReadPreference>,
    pick: &mut dyn FnMut(usize) -> usize,
) -> Result<usize> {
    let primary = candidates.iter().find(|c| c.primary).map(|c| c.index);
    let primary_write = candidates
        .iter()
        .find(|c| c.primary)
        .map(|c| c.last_write_secs);
    let preference = preference.unwrap_or(&ReadPreference::Primary);
    let criteria = preference.criteria().cloned().unwrap_or_default();
    if let Some(max) = criteria.max_staleness
        && max < SMALLEST_MAX_STALENESS
    {
        return Err(Error::invalid_argument(format!(
            "maxStalenessSeconds must be at least {} seconds, not {}",
            SMALLEST_MAX_STALENESS.as_secs(),
            max.as_secs()
        )));
    }
    let mut choose = |include_primary: bool| -> Option<usize> {
        let fresh: Vec<&Candidate<'_>> = candidates
            .iter()
            .filter(|c| include_primary || !c.primary)
            .filter(|c| within_staleness(c, primary_write, &criteria))
            .collect();
        let members = matching_tags(&fresh, &criteria);
        (!members.is_empty()).then(|| members[pick(members.len()).min(members.len() - 1)])
    };
    let chosen = match preference {
        ReadPreference::Primary => primary,
        ReadPreference::PrimaryPreferred(_) => primary.or_else(|| choose(false)),
        ReadPreference::Secondary(_) => choose(false),
        ReadPreference::SecondaryPreferred(_) => choose(false).or(primary),
        ReadPreference::Nearest(_) => choose(true),
    };
    chosen.ok_or_else(|| no_member(preference.mode()))
}

/// Whether a member's estimated staleness is within `maxStalenessSeconds`.
fn within_staleness(
    candidate: &Candidate<'_>,
    primary_write: Option<i64>,
    criteria: &SelectionCriteria,
) -> bool {
    let Some(max) = criteria.max_staleness else {
        return true;
    };
    if candidate.primary {
        return true;
    }
    let behind = primary_write.map_or(0, |p| (p - candidate.last_write_secs).max(0));
    let staleness = behind.saturating_add(HEARTBEAT.as_secs() as i64);
    staleness <= i64::try_from(max.as_secs()).unwrap_or(i64::MAX)
}

/// The members matching the first tag set that any member matches (all, without tag sets).
fn matching_tags(members: &[&Candidate<'_>], criteria: &SelectionCriteria) -> Vec<usize> {
    if criteria.tag_sets.is_empty() {
        return members.iter().map(|c| c.index).collect();
    }
    for set in &criteria.tag_sets {
        let matching: Vec<usize> = members
            .iter()
            .filter(|c| set.iter().all(|(k, v)| c.tags.get(k) == Some(v)))
            .map(|c| c.index)
            .collect();
        if !matching.is_empty() {
            return matching;
        }
    }
    Vec::new()
}

fn no_member(mode: &str) -> Error {
    Error::new(ErrorKind::ServerSelection {
        message: format!("no member of the replica set matches the read preference '{mode}'"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn set(tags: &[Document]) -> Vec<Candidate<'_>> {
        tags.iter()
            .enumerate()
            .map(|(i, t)| Candidate {
                index: i,
                primary: i == 0,
                tags: t,
                last_write_secs: 1000 - 50 * i as i64,
            })
            .collect()
    }

    #[test]
    fn modes_choose_among_the_right_members() {
        let tags = [doc! {}, doc! {"dc": "east"}, doc! {"dc": "west"}];
        let members = set(&tags);
        assert_eq!(select(&members, None, &mut |_| 0).ok(), Some(0));
        assert_eq!(
            select(&members, Some(&ReadPreference::secondary()), &mut |_| 1).ok(),
            Some(2)
        );
        assert_eq!(
            select(
                &members,
                Some(&ReadPreference::secondary_preferred()),
                &mut |_| 0
            )
            .ok(),
            Some(1)
        );
        assert_eq!(
            select(
                &members,
                Some(&ReadPreference::primary_preferred()),
                &mut |_| 1
            )
            .ok(),
            Some(0)
        );
        assert_eq!(
            select(&members, Some(&ReadPreference::nearest()), &mut |n| n - 1).ok(),
            Some(2)
        );
        let alone = set(&tags[..1]);
        assert!(select(&alone, Some(&ReadPreference::secondary()), &mut |_| 0).is_err());
        assert_eq!(
            select(
                &alone,
                Some(&ReadPreference::secondary_preferred()),
                &mut |_| 0
            )
            .ok(),
            Some(0)
        );
    }

    #[test]
    fn tag_sets_are_tried_in_order() {
        let tags = [doc! {}, doc! {"dc": "east"}, doc! {"dc": "west"}];
        let members = set(&tags);
        let pref = |sets: Vec<Document>| {
            ReadPreference::Secondary(SelectionCriteria {
                tag_sets: sets,
                max_staleness: None,
            })
        };
        assert_eq!(
            select(&members, Some(&pref(vec![doc! {"dc": "west"}])), &mut |_| 0).ok(),
            Some(2)
        );
        assert_eq!(
            select(
                &members,
                Some(&pref(vec![doc! {"dc": "north"}, doc! {"dc": "east"}])),
                &mut |_| 0
            )
            .ok(),
            Some(1)
        );
        assert!(
            select(
                &members,
                Some(&pref(vec![doc! {"dc": "north"}])),
                &mut |_| 0
            )
            .is_err()
        );
        assert_eq!(
            select(
                &members,
                Some(&pref(vec![doc! {"dc": "north"}, doc! {}])),
                &mut |n| n - 1
            )
            .ok(),
            Some(2)
        );
    }

    #[test]
    fn max_staleness_excludes_members_too_far_behind() {
        let tags = [doc! {}, doc! {}, doc! {}];
        let mut members = set(&tags);
        members[2].last_write_secs = 1000 - 200;
        let pref = ReadPreference::Secondary(SelectionCriteria {
            tag_sets: vec![],
            max_staleness: Some(Duration::from_secs(90)),
        });
        assert_eq!(
            select(&members, Some(&pref), &mut |n| n - 1).ok(),
            Some(1),
            "member 2 is 210 s stale"
        );
        let too_small = ReadPreference::Secondary(SelectionCriteria {
            tag_sets: vec![],
            max_staleness: Some(Duration::from_secs(30)),
        });
        assert!(matches!(
            select(&members, Some(&too_small), &mut |_| 0).map_err(|e| e.kind().clone()),
            Err(ErrorKind::InvalidArgument { .. })
        ));
    }
}
