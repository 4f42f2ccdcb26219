//! Commands about the server itself: `ping`, `buildInfo`, `connectionStatus`,
//! `getParameter`, `serverStatus`, `listCommands`. (`hello` needs the node's role and is
//! answered by the engine.)

use bson::{Document, doc};

use super::Exec;
use crate::request::Request;
use crate::unit::StatementResult;

/// The server version the engine reports, and behaves as.
pub const SERVER_VERSION: &str = "8.0.0";

/// `{ping: 1}`.
pub(crate) fn ping(_: &mut Exec<'_>, _: &Request<'_>) -> StatementResult<Document> {
    Ok(doc! {"ok": 1.0})
}

/// `{buildInfo: 1}`.
pub(crate) fn build_info(_: &mut Exec<'_>, _: &Request<'_>) -> StatementResult<Document> {
    Ok(doc! {
        "version": SERVER_VERSION,
        "gitVersion": "causeway",
        "versionArray": [8, 0, 0, 0],
        "bits": 64,
        "debug": false,
        "maxBsonObjectSize": 16 * 1024 * 1024,
        "storageEngines": ["causeway"],
        "modules": [],
        "ok": 1.0,
    })
}

/// `{connectionStatus: 1}`: no authentication is configured.
pub(crate) fn connection_status(_: &mut Exec<'_>, _: &Request<'_>) -> StatementResult<Document> {
    Ok(doc! {"authInfo": {"authenticatedUsers": [], "authenticatedUserRoles": []}, "ok": 1.0})
}

/// `{getParameter: 1, featureCompatibilityVersion: 1}` and friends.
pub(crate) fn get_parameter(_: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    let mut reply = Document::new();
    if req.body.contains_key("featureCompatibilityVersion") {
        reply.insert("featureCompatibilityVersion", doc! {"version": "8.0"});
    }
    if req.body.contains_key("transactionLifetimeLimitSeconds") {
        reply.insert("transactionLifetimeLimitSeconds", 60);
    }
    reply.insert("ok", 1.0);
    Ok(reply)
}

/// `{serverStatus: 1}`: the essentials.
pub(crate) fn server_status(exec: &mut Exec<'_>, _: &Request<'_>) -> StatementResult<Document> {
    Ok(doc! {
        "version": SERVER_VERSION,
        "process": "causeway",
        "storageEngine": {"name": "causeway", "supportsCommittedReads": true},
        "metrics": {
            "cursor": {"open": {"total": exec.cursors.len() as i64}},
            "queryExecutor": {"scannedObjects": exec.scanned_objects.load(std::sync::atomic::Ordering::Relaxed) as i64},
        },
        "ok": 1.0,
    })
}

/// `{listCommands: 1}`.
pub(crate) fn list_commands(_: &mut Exec<'_>, _: &Request<'_>) -> StatementResult<Document> {
    let mut commands = Document::new();
    for name in super::names() {
        commands.insert(name, doc! {});
    }
    Ok(doc! {"commands": commands, "ok": 1.0})
}
