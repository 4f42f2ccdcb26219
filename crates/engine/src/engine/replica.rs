//! A node's part in its replica set: its role (primary or secondary), waiting for reads at a
//! cluster time and for write concerns, the majority commit point, applying the primary's
//! oplog, and how much history commits must keep.

use bson::{Bson, Document, doc};
use tokio::time::Instant;

use super::{Engine, Outcome, State};
use crate::clock::Ts;
use crate::commands::CommandSpec;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::oplog::{Op, OplogEntry};
use crate::request::{Acknowledgement, Request, WriteConcern};
use crate::storage::{Horizon, IndexKeys};

impl Engine {
    /// A secondary refuses writes and transactions (`NotWritablePrimary`), and reads unless the
    /// command says a secondary may answer (`$readPreference` other than primary).
    pub(super) fn check_role(&self, spec: &CommandSpec, req: &Request<'_>) -> CommandResult<()> {
        if self.shared.node.read().is_primary {
            return Ok(());
        }
        if spec.writes
            || req.in_transaction()
            || spec.name == "commitTransaction"
            || spec.name == "abortTransaction"
        {
            return Err(CommandError::new(
                ErrorCode::NotWritablePrimary,
                "not primary",
            ));
        }
        let reads = matches!(
            spec.name,
            "find"
                | "aggregate"
                | "distinct"
                | "count"
                | "listCollections"
                | "listIndexes"
                | "listDatabases"
        );
        let secondary_ok = matches!(
            req.body.get("$readPreference"),
            Some(Bson::Document(rp)) if rp.get_str("mode").is_ok_and(|m| m != "primary")
        );
        if reads && !secondary_ok {
            return Err(CommandError::new(
                ErrorCode::NotPrimaryNoSecondaryOk,
                "not primary and secondaryOk=false",
            ));
        }
        Ok(())
    }

    /// A read at or after a cluster time this member has not applied yet waits for it
    /// (`afterClusterTime`, `atClusterTime`), at most until `maxTimeMS`.
    pub(super) async fn await_read_point(&self, req: &Request<'_>) -> CommandResult<()> {
        let Some(rc) = &req.read_concern else {
            return Ok(());
        };
        let Some(target) = rc.after_cluster_time.max(rc.at_cluster_time) else {
            return Ok(());
        };
        let Some((replication, me)) = &self.shared.replication else {
            return Ok(());
        };
        if self.shared.node.read().is_primary || replication.applied(*me) >= target {
            return Ok(());
        }
        let deadline = req.max_time.map(|t| Instant::now() + t);
        // Boxed, here and below: most commands never wait, and inline the wait's state would
        // widen every command's future (and every future that holds one).
        if Box::pin(replication.wait_applied(*me, target, deadline)).await {
            Ok(())
        } else {
            Err(CommandError::new(
                ErrorCode::MaxTimeMSExpired,
                "operation exceeded time limit",
            ))
        }
    }

    /// The newest time a majority of the replica set has applied (this node's newest commit
    /// when it stands alone).
    pub(super) fn majority_point(&self, state: &State) -> Ts {
        match &self.shared.replication {
            Some((replication, _)) => replication.majority_point().min(state.last_committed),
            None => state.last_committed,
        }
    }

    /// Waits until the write concern is satisfied for a write at `op_time`, at most until its
    /// `wtimeout`. What cannot be satisfied, or times out, is reported as a
    /// `writeConcernError` (the write itself stays applied), as `mongod` does. Without an
    /// explicit `w`, a replica set member waits for a majority, `mongod`'s implicit default.
    pub(super) async fn await_write_concern(
        &self,
        wc: Option<&WriteConcern>,
        op_time: Ts,
    ) -> Option<Document> {
        let members = self
            .shared
            .replication
            .as_ref()
            .map_or(1, |(r, _)| r.members());
        let needed = match wc.and_then(|wc| wc.w.as_ref()) {
            Some(Acknowledgement::Nodes(n)) if *n as usize > members => {
                return Some(doc! {
                    "code": ErrorCode::UnsatisfiableWriteConcern.code(),
                    "codeName": ErrorCode::UnsatisfiableWriteConcern.name(),
                    "errmsg": "Not enough data-bearing nodes",
                });
            }
            Some(Acknowledgement::Tag(tag)) => {
                return Some(doc! {
                    "code": ErrorCode::UnknownReplWriteConcern.code(),
                    "codeName": ErrorCode::UnknownReplWriteConcern.name(),
                    "errmsg": format!("No write concern mode named '{tag}' found in replica set configuration"),
                });
            }
            Some(Acknowledgement::Nodes(n)) => *n as usize,
            Some(Acknowledgement::Majority) | None => members / 2 + 1,
        };
        let Some((replication, _)) = &self.shared.replication else {
            return None;
        };
        if needed <= 1 || replication.count_at(op_time) >= needed {
            return None;
        }
        let deadline = wc
            .and_then(|wc| wc.timeout)
            .filter(|t| !t.is_zero())
            .map(|t| Instant::now() + t);
        if Box::pin(replication.wait_for(op_time, needed, deadline)).await {
            None
        } else {
            Some(doc! {
                "code": ErrorCode::WriteConcernTimeout.code(),
                "codeName": ErrorCode::WriteConcernTimeout.name(),
                "errmsg": "waiting for replication timed out",
                "errInfo": {"wtimeout": true, "writeConcern": {"w": match wc.and_then(|wc| wc.w.as_ref()) {
                    Some(Acknowledgement::Nodes(n)) => Bson::Int32(*n as i32),
                    _ => Bson::String("majority".into()),
                }}},
            })
        }
    }

    /// `replSetGetStatus`: each member's state and how far it has applied.
    pub(super) fn replica_set_status(&self) -> Outcome {
        let node = self.shared.node.read().clone();
        let last = self.shared.state.lock().last_committed;
        let mut members = Vec::new();
        for (i, host) in node.hosts.iter().enumerate() {
            let applied = self
                .shared
                .replication
                .as_ref()
                .map_or(last, |(r, _)| r.applied(i));
            let primary = node.primary.as_deref() == Some(host.as_str());
            members.push(doc! {
                "_id": i as i32,
                "name": host.clone(),
                "health": 1.0,
                "state": if primary { 1 } else { 2 },
                "stateStr": if primary { "PRIMARY" } else { "SECONDARY" },
                "optime": {"ts": applied.to_bson(), "t": 1_i64},
                "optimeDate": bson::DateTime::from_millis(i64::from(applied.seconds()) * 1000),
                "self": *host == node.me,
            });
        }
        Outcome {
            reply: doc! {
                "set": node.set_name.clone(),
                "date": bson::DateTime::now(),
                "myState": if node.is_primary { 1 } else { 2 },
                "members": members,
                "ok": 1.0,
            }
            .into(),
            op_time: last,
        }
    }

    /// Applies one entry of the primary's oplog (on a secondary), atomically: readers see
    /// all of it or none of it.
    pub fn apply_oplog_entry(&self, entry: &OplogEntry) -> CommandResult<()> {
        let mut guard = self.shared.state.lock();
        let state = &mut *guard;
        let horizon = self.horizon(state, entry.ts);
        let mut floor = horizon.soft;
        for op in &entry.ops {
            match op {
                Op::Put { db, coll, id, doc } => {
                    let collection = state.catalog.collection_or_create(db, coll);
                    let truncated = collection.install(
                        id.clone(),
                        Some(doc.clone()),
                        IndexKeys::default(),
                        entry.ts,
                        horizon,
                    )?;
                    floor = floor.max(truncated.unwrap_or(Ts::ZERO));
                }
                Op::Delete { db, coll, id } => {
                    if let Some(c) = state.catalog.collection_mut(db, coll) {
                        let truncated =
                            c.install(id.clone(), None, IndexKeys::default(), entry.ts, horizon)?;
                        floor = floor.max(truncated.unwrap_or(Ts::ZERO));
                    }
                }
                Op::CreateCollection { db, coll, options } => {
                    if state.catalog.collection(db, coll).is_none() {
                        state.catalog.insert_collection(
                            db,
                            coll,
                            crate::storage::Collection::new(options.clone(), None),
                        );
                    }
                }
                Op::DropCollection { db, coll } => {
                    state.catalog.remove_collection(db, coll);
                }
                Op::CreateIndex { db, coll, spec } => {
                    let collection = state.catalog.collection_or_create(db, coll);
                    let index = crate::storage::Index::from_spec(spec, None)?;
                    if collection.index(&index.name).is_none() {
                        collection.add_index(index)?;
                    }
                }
                Op::DropIndex { db, coll, name } => {
                    if let Some(c) = state.catalog.collection_mut(db, coll) {
                        c.indexes.retain(|i| i.name != *name);
                    }
                }
            }
        }
        state.last_committed = state.last_committed.max(entry.ts);
        state.history_floor = state.history_floor.max(floor);
        drop(guard);
        self.shared.clock.advance(entry.ts);
        if let Some((replication, me)) = &self.shared.replication {
            replication.record(*me, entry.ts);
        }
        Ok(())
    }

    /// What history a commit at `ts` must keep: what open snapshots and the majority commit
    /// point need (hard), and the snapshot history window (soft).
    pub(super) fn horizon(&self, state: &State, ts: Ts) -> Horizon {
        let mut hard = ts;
        if let Some(oldest) = state.snapshots.keys().next() {
            hard = hard.min(*oldest);
        }
        if let Some((replication, _)) = &self.shared.replication {
            hard = hard.min(replication.majority_point());
        }
        let window =
            u32::try_from(self.shared.options.snapshot_history.as_secs()).unwrap_or(u32::MAX);
        let window_start = Ts::from_bson(bson::Timestamp {
            time: ts.seconds().saturating_sub(window),
            increment: 0,
        });
        Horizon {
            soft: hard.min(window_start),
            hard,
        }
    }
}
