//! The entity map of one test: clients (all of one embedded deployment), databases,
//! collections, sessions and saved values, and the option documents they are built from.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bson::{Bson, Document};
use causeway::options::{
    Acknowledgment, ClientOptions, ReadConcern, ReadConcernLevel, ReadPreference,
    SelectionCriteria, SessionOptions, TransactionOptions, WriteConcern,
};
use causeway::{Client, ClientSession, Collection, CollectionOptions, Database};

use crate::events::{self, EventLog, Filter};
use crate::matching::{Lookup, show};

/// A client entity: a client of the test's deployment and what it observed.
#[derive(Debug)]
pub struct ClientEntity {
    pub client: Client,
    pub events: Arc<EventLog>,
}

/// A collection entity and the database it belongs to.
#[derive(Debug, Clone)]
pub struct CollectionEntity {
    pub collection: Collection<Document>,
    pub database: Database,
}

/// A session entity. The session sits behind an async lock so that operations borrow it
/// mutably one at a time while the map is shared (a `withTransaction` holds it for its whole
/// run).
#[derive(Debug)]
pub struct SessionEntity {
    pub session: tokio::sync::Mutex<ClientSession>,
    pub lsid: Document,
}

/// One entity.
#[derive(Debug, Clone)]
pub enum Entity {
    Client(Arc<ClientEntity>),
    Database(Database),
    Collection(CollectionEntity),
    Session(Arc<SessionEntity>),
    Value(Bson),
}

impl Entity {
    fn kind(&self) -> &'static str {
        match self {
            Entity::Client(_) => "client",
            Entity::Database(_) => "database",
            Entity::Collection(_) => "collection",
            Entity::Session(_) => "session",
            Entity::Value(_) => "value",
        }
    }
}

/// The entity map, shared by reference by every operation of the test.
#[derive(Debug)]
pub struct Entities {
    map: Mutex<HashMap<String, Entity>>,
    /// Names in creation order (sessions are ended in this order).
    order: Mutex<Vec<String>>,
    /// The internal client: set-up, outcome, fail points; its events are not observed.
    pub setup: Client,
    /// The fail points configured by the test, to turn off after it.
    pub fail_points: Mutex<Vec<String>>,
}

impl Entities {
    pub fn new(setup: Client) -> Entities {
        Entities {
            map: Mutex::new(HashMap::new()),
            order: Mutex::new(Vec::new()),
            setup,
            fail_points: Mutex::new(Vec::new()),
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Entity>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, name: &str) -> Result<Entity, String> {
        self.map()
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no entity named `{name}`"))
    }

    fn wrong(name: &str, wanted: &str, got: &Entity) -> String {
        format!("entity `{name}` is a {}, not a {wanted}", got.kind())
    }

    pub fn entity(&self, name: &str) -> Result<Entity, String> {
        self.get(name)
    }

    pub fn client(&self, name: &str) -> Result<Arc<ClientEntity>, String> {
        match self.get(name)? {
            Entity::Client(c) => Ok(c),
            other => Err(Self::wrong(name, "client", &other)),
        }
    }

    pub fn database(&self, name: &str) -> Result<Database, String> {
        match self.get(name)? {
            Entity::Database(d) => Ok(d),
            other => Err(Self::wrong(name, "database", &other)),
        }
    }

    pub fn session(&self, name: &str) -> Result<Arc<SessionEntity>, String> {
        match self.get(name)? {
            Entity::Session(s) => Ok(s),
            other => Err(Self::wrong(name, "session", &other)),
        }
    }

    /// Every client entity.
    pub fn clients(&self) -> Vec<Arc<ClientEntity>> {
        self.map()
            .values()
            .filter_map(|e| match e {
                Entity::Client(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every session entity, in creation order.
    pub fn sessions(&self) -> Vec<Arc<SessionEntity>> {
        let order = self.order.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let map = self.map();
        order
            .iter()
            .filter_map(|name| match map.get(name) {
                Some(Entity::Session(s)) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    /// Adds an entity; names are unique.
    pub fn insert(&self, name: &str, entity: Entity) -> Result<(), String> {
        let mut map = self.map();
        if map.contains_key(name) {
            return Err(format!("an entity named `{name}` already exists"));
        }
        map.insert(name.to_owned(), entity);
        self.order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.to_owned());
        Ok(())
    }

    /// Creates the entities of a `createEntities` list, in order.
    pub async fn create_all(&self, list: &Bson) -> Result<(), String> {
        let Bson::Array(items) = list else {
            return Err("createEntities must be an array".to_owned());
        };
        for item in items {
            let Bson::Document(entity) = item else {
                return Err("an entity must be a document".to_owned());
            };
            self.create(entity).await?;
        }
        Ok(())
    }

    async fn create(&self, entity: &Document) -> Result<(), String> {
        if entity.len() != 1 {
            return Err(format!(
                "an entity must have exactly one key, got {}",
                show(&Bson::Document(entity.clone()))
            ));
        }
        let Some((kind, spec)) = entity.iter().next() else {
            return Err("empty entity".to_owned());
        };
        let Bson::Document(spec) = spec else {
            return Err(format!("entity `{kind}` must be a document"));
        };
        let id = spec
            .get_str("id")
            .map_err(|_| format!("{kind} entity without an `id`"))?;
        let created = match kind.as_str() {
            "client" => Entity::Client(Arc::new(self.create_client(id, spec)?)),
            "database" => {
                let client = self.client(str_field(spec, "client", id)?)?;
                let name = str_field(spec, "databaseName", id)?;
                let mut db = client.client.database(name);
                if let Ok(options) = spec.get_document("databaseOptions") {
                    db = db.with_options(collection_options(options)?);
                }
                Entity::Database(db)
            }
            "collection" => {
                let database = self.database(str_field(spec, "database", id)?)?;
                let name = str_field(spec, "collectionName", id)?;
                let mut collection = database.collection::<Document>(name);
                if let Ok(options) = spec.get_document("collectionOptions") {
                    collection = collection.with_options(collection_options(options)?);
                }
                Entity::Collection(CollectionEntity {
                    collection,
                    database,
                })
            }
            "session" => {
                let client_name = str_field(spec, "client", id)?;
                let client = self.client(client_name)?;
                let options = match spec.get_document("sessionOptions") {
                    Ok(options) => session_options(options)?,
                    Err(_) => SessionOptions::default(),
                };
                let session = client
                    .client
                    .start_session()
                    .options(options)
                    .await
                    .map_err(|e| format!("session `{id}` could not be started: {e}"))?;
                Entity::Session(Arc::new(SessionEntity {
                    lsid: session.id(),
                    session: tokio::sync::Mutex::new(session),
                }))
            }
            other => {
                return Err(format!(
                    "entity type `{other}` is not supported by causeway"
                ));
            }
        };
        self.insert(id, created)
    }

    fn create_client(&self, id: &str, spec: &Document) -> Result<ClientEntity, String> {
        let mut options = ClientOptions::default();
        let mut filter = Filter::default();
        for (key, value) in spec {
            match key.as_str() {
                "id" | "useMultipleMongoses" => {}
                "uriOptions" => {
                    let Bson::Document(uri) = value else {
                        return Err(format!("client `{id}`: uriOptions must be a document"));
                    };
                    apply_uri_options(&mut options, uri)
                        .map_err(|e| format!("client `{id}`: {e}"))?;
                }
                "observeEvents" => {
                    let Bson::Array(names) = value else {
                        return Err(format!("client `{id}`: observeEvents must be an array"));
                    };
                    for name in names.iter().filter_map(Bson::as_str) {
                        let kind = events::command_event_name(name).ok_or_else(|| {
                            format!("client `{id}`: causeway emits no `{name}` events")
                        })?;
                        filter.kinds.insert(kind);
                    }
                }
                "ignoreCommandMonitoringEvents" => {
                    let Bson::Array(names) = value else {
                        return Err(format!(
                            "client `{id}`: ignoreCommandMonitoringEvents must be an array"
                        ));
                    };
                    filter.ignored_commands = names
                        .iter()
                        .filter_map(Bson::as_str)
                        .map(str::to_owned)
                        .collect::<HashSet<_>>();
                }
                "observeSensitiveCommands" => {
                    filter.observe_sensitive = value.as_bool().unwrap_or(false);
                }
                other => {
                    return Err(format!(
                        "client `{id}`: option `{other}` is not supported by causeway"
                    ));
                }
            }
        }
        let log = Arc::new(EventLog::default());
        log.set_enabled(true);
        if !filter.kinds.is_empty() {
            options.command_event_handler = Some(events::handler(log.clone(), filter));
        }
        Ok(ClientEntity {
            client: self.setup.with_options(options),
            events: log,
        })
    }

    /// Turns off the fail points the test configured.
    pub async fn disable_fail_points(&self) -> Result<(), String> {
        let names =
            std::mem::take(&mut *self.fail_points.lock().unwrap_or_else(|e| e.into_inner()));
        for name in names {
            self.setup
                .database("admin")
                .run_command(bson::doc! {"configureFailPoint": name.as_str(), "mode": "off"})
                .await
                .map_err(|e| format!("turning fail point {name} off failed: {e}"))?;
        }
        Ok(())
    }

    /// Ends every session (aborting open transactions) and shuts the clients down.
    pub async fn close(&self) {
        for client in self.clients() {
            client.events.set_enabled(false);
        }
        for session in self.sessions() {
            session.session.lock().await.end().await;
        }
        for client in self.clients() {
            client.client.shutdown().await;
        }
        self.setup.shutdown().await;
    }
}

impl Lookup for Entities {
    fn session_lsid(&self, name: &str) -> Result<Document, String> {
        Ok(self.session(name)?.lsid.clone())
    }

    fn saved_value(&self, name: &str) -> Result<Bson, String> {
        match self.get(name)? {
            Entity::Value(v) => Ok(v),
            other => Err(Self::wrong(name, "BSON value", &other)),
        }
    }
}

fn str_field<'a>(spec: &'a Document, key: &str, id: &str) -> Result<&'a str, String> {
    spec.get_str(key)
        .map_err(|_| format!("entity `{id}` needs a string `{key}`"))
}

/// URI options are applied to the client's options; those that only concern a network
/// connection have no meaning for an in-process deployment and are reported.
fn apply_uri_options(options: &mut ClientOptions, uri: &Document) -> Result<(), String> {
    let mut wc = options.write_concern.clone().unwrap_or_default();
    let mut wc_set = false;
    for (key, value) in uri {
        match key.as_str() {
            "readConcernLevel" => {
                let level = value
                    .as_str()
                    .ok_or("uriOptions.readConcernLevel must be a string")?;
                options.read_concern = Some(ReadConcern {
                    level: ReadConcernLevel::parse(level),
                });
            }
            "w" => {
                wc.w = Some(acknowledgment(value)?);
                wc_set = true;
            }
            "wTimeoutMS" | "wtimeoutMS" => {
                wc.w_timeout = Some(millis(value, key)?);
                wc_set = true;
            }
            "journal" => {
                wc.journal = Some(
                    value
                        .as_bool()
                        .ok_or("uriOptions.journal must be a boolean")?,
                );
                wc_set = true;
            }
            "readPreference" => {
                let mode = value
                    .as_str()
                    .ok_or("uriOptions.readPreference must be a string")?;
                options.read_preference = Some(read_preference_mode(mode, Default::default())?);
            }
            "retryWrites" => {
                options.retry_writes = value
                    .as_bool()
                    .ok_or("uriOptions.retryWrites must be a boolean")?;
            }
            "retryReads" => {
                options.retry_reads = value
                    .as_bool()
                    .ok_or("uriOptions.retryReads must be a boolean")?;
            }
            "appname" | "appName" => {
                options.app_name = Some(
                    value
                        .as_str()
                        .ok_or("uriOptions.appname must be a string")?
                        .to_owned(),
                );
            }
            "socketTimeoutMS" => {
                let ms = crate::matching::as_f64(value)
                    .ok_or("uriOptions.socketTimeoutMS must be a number")?;
                options.socket_timeout =
                    (ms > 0.0).then(|| std::time::Duration::from_millis(ms as u64));
            }
            // Connection monitoring and pooling knobs: nothing to tune in-process.
            "heartbeatFrequencyMS"
            | "minHeartbeatFrequencyMS"
            | "serverSelectionTimeoutMS"
            | "connectTimeoutMS"
            | "directConnection"
            | "maxPoolSize"
            | "minPoolSize"
            | "maxIdleTimeMS"
            | "waitQueueTimeoutMS"
            | "localThresholdMS" => {}
            other => {
                return Err(format!(
                    "uriOptions.{other} has no causeway equivalent (ClientOptions has no such setting)"
                ));
            }
        }
    }
    if wc_set {
        options.write_concern = Some(wc);
    }
    Ok(())
}

fn non_negative(value: &Bson, key: &str) -> Result<u64, String> {
    let n = match value {
        Bson::Int32(n) => i64::from(*n),
        Bson::Int64(n) => *n,
        Bson::Double(n) if n.fract() == 0.0 => *n as i64,
        _ => return Err(format!("`{key}` must be an integer")),
    };
    u64::try_from(n).map_err(|_| format!("`{key}` must not be negative"))
}

fn millis(value: &Bson, key: &str) -> Result<Duration, String> {
    non_negative(value, key).map(Duration::from_millis)
}

fn acknowledgment(value: &Bson) -> Result<Acknowledgment, String> {
    match value {
        Bson::String(s) if s == "majority" => Ok(Acknowledgment::Majority),
        Bson::String(s) => Ok(Acknowledgment::Custom(s.clone())),
        Bson::Int32(n) => u32::try_from(*n)
            .map(Acknowledgment::Nodes)
            .map_err(|_| "w must not be negative".to_owned()),
        Bson::Int64(n) => u32::try_from(*n)
            .map(Acknowledgment::Nodes)
            .map_err(|_| "w out of range".to_owned()),
        other => Err(format!(
            "w must be a number or a string, got {}",
            show(other)
        )),
    }
}

/// A `writeConcern` of the common options.
pub fn write_concern(doc: &Document) -> Result<WriteConcern, String> {
    let mut wc = WriteConcern::default();
    for (key, value) in doc {
        match key.as_str() {
            "w" => wc.w = Some(acknowledgment(value)?),
            "wtimeoutMS" | "wtimeout" => wc.w_timeout = Some(millis(value, key)?),
            "journal" | "j" => {
                wc.journal = Some(value.as_bool().ok_or("journal must be a boolean")?);
            }
            other => return Err(format!("unsupported writeConcern field `{other}`")),
        }
    }
    Ok(wc)
}

/// A `readConcern` of the common options.
pub fn read_concern(doc: &Document) -> Result<ReadConcern, String> {
    let level = doc
        .get_str("level")
        .map_err(|_| "readConcern needs a string `level`".to_owned())?;
    if let Some(other) = doc.keys().find(|k| *k != "level") {
        return Err(format!("unsupported readConcern field `{other}`"));
    }
    Ok(ReadConcern {
        level: ReadConcernLevel::parse(level),
    })
}

/// A `readPreference` of the common options.
pub fn read_preference(doc: &Document) -> Result<ReadPreference, String> {
    let mut criteria = SelectionCriteria::default();
    let mut mode = None;
    for (key, value) in doc {
        match key.as_str() {
            "mode" => {
                mode = Some(
                    value
                        .as_str()
                        .ok_or("readPreference mode must be a string")?,
                )
            }
            "tagSets" => {
                let Bson::Array(sets) = value else {
                    return Err("readPreference tagSets must be an array".to_owned());
                };
                for set in sets {
                    match set {
                        Bson::Document(d) => criteria.tag_sets.push(d.clone()),
                        _ => return Err("a tag set must be a document".to_owned()),
                    }
                }
            }
            "maxStalenessSeconds" => {
                criteria.max_staleness = Some(Duration::from_secs(non_negative(value, key)?));
            }
            "hedge" => return Err("readPreference hedge is not supported by causeway".to_owned()),
            other => return Err(format!("unsupported readPreference field `{other}`")),
        }
    }
    read_preference_mode(mode.ok_or("readPreference needs a mode")?, criteria)
}

fn read_preference_mode(mode: &str, criteria: SelectionCriteria) -> Result<ReadPreference, String> {
    Ok(match mode.to_ascii_lowercase().as_str() {
        "primary" => {
            if criteria != SelectionCriteria::default() {
                return Err("readPreference primary cannot have tags or staleness".to_owned());
            }
            ReadPreference::Primary
        }
        "primarypreferred" => ReadPreference::PrimaryPreferred(criteria),
        "secondary" => ReadPreference::Secondary(criteria),
        "secondarypreferred" => ReadPreference::SecondaryPreferred(criteria),
        "nearest" => ReadPreference::Nearest(criteria),
        other => return Err(format!("unknown read preference mode `{other}`")),
    })
}

/// `collectionOptions` / `databaseOptions`.
pub fn collection_options(doc: &Document) -> Result<CollectionOptions, String> {
    let mut options = CollectionOptions::default();
    for (key, value) in doc {
        let Bson::Document(inner) = value else {
            return Err(format!("`{key}` must be a document"));
        };
        match key.as_str() {
            "readConcern" => options.read_concern = Some(read_concern(inner)?),
            "writeConcern" => options.write_concern = Some(write_concern(inner)?),
            "readPreference" => options.read_preference = Some(read_preference(inner)?),
            other => return Err(format!("unsupported collection option `{other}`")),
        }
    }
    Ok(options)
}

/// The transaction options of `startTransaction`, `withTransaction` and
/// `defaultTransactionOptions`; `extra` lists further keys the caller handles.
pub fn transaction_options(doc: &Document, extra: &[&str]) -> Result<TransactionOptions, String> {
    let mut options = TransactionOptions::default();
    for (key, value) in doc {
        match key.as_str() {
            "readConcern" => options.read_concern = Some(read_concern(as_doc(value, key)?)?),
            "writeConcern" => options.write_concern = Some(write_concern(as_doc(value, key)?)?),
            "readPreference" => {
                options.read_preference = Some(read_preference(as_doc(value, key)?)?);
            }
            "maxCommitTimeMS" => options.max_commit_time = Some(millis(value, key)?),
            k if extra.contains(&k) => {}
            other => return Err(format!("unsupported transaction option `{other}`")),
        }
    }
    Ok(options)
}

fn session_options(doc: &Document) -> Result<SessionOptions, String> {
    let mut options = SessionOptions::default();
    for (key, value) in doc {
        match key.as_str() {
            "causalConsistency" => {
                options.causal_consistency = Some(
                    value
                        .as_bool()
                        .ok_or("causalConsistency must be a boolean")?,
                );
            }
            "snapshot" => {
                options.snapshot = Some(value.as_bool().ok_or("snapshot must be a boolean")?);
            }
            "defaultTransactionOptions" => {
                options.default_transaction_options =
                    Some(transaction_options(as_doc(value, key)?, &[])?);
            }
            other => {
                return Err(format!(
                    "session option `{other}` is not supported by causeway"
                ));
            }
        }
    }
    Ok(options)
}

fn as_doc<'a>(value: &'a Bson, key: &str) -> Result<&'a Document, String> {
    match value {
        Bson::Document(d) => Ok(d),
        _ => Err(format!("`{key}` must be a document")),
    }
}
