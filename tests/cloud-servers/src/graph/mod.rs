//! A fake Microsoft Graph v1.0 (Entra ID) with its OAuth2 token endpoint:
//! users, groups, transitive members, delta queries with `@removed`, paging
//! by `@odata.nextLink`, 401/403/429 answers shaped like Graph's.

mod routes;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::tls::{self, Running};

/// The permissions an app holds by default (application permissions).
pub const PERMISSIONS: [&str; 3] = ["User.Read.All", "Group.Read.All", "GroupMember.Read.All"];

#[derive(Debug, Clone, Default)]
pub struct GraphUser {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub company_name: Option<String>,
    pub mobile_phone: Option<String>,
    pub account_enabled: bool,
    /// The manager's object id.
    pub manager: Option<String>,
}

impl GraphUser {
    /// An enabled user `upn` with a display name and mail derived from it.
    pub fn new(id: &str, upn: &str) -> GraphUser {
        let name = upn.split('@').next().unwrap_or(upn);
        GraphUser {
            id: id.into(),
            user_principal_name: upn.into(),
            display_name: Some(name.to_string()),
            mail: Some(upn.to_string()),
            account_enabled: true,
            ..GraphUser::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct GraphGroup {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    /// Direct members: user or group ids.
    pub members: Vec<String>,
}

impl GraphGroup {
    pub fn new(id: &str, name: &str, members: &[&str]) -> GraphGroup {
        GraphGroup {
            id: id.into(),
            display_name: name.into(),
            description: None,
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }
}

/// An object with the change version that delta queries compare against.
pub(crate) struct Tracked<T> {
    pub obj: T,
    pub version: u64,
    pub removed: bool,
}

pub(crate) struct State {
    pub base: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    pub users: Vec<Tracked<GraphUser>>,
    pub groups: Vec<Tracked<GraphGroup>>,
    /// Bumped by every change; delta tokens are versions.
    pub version: u64,
    pub tokens: Vec<String>,
    pub token_requests: usize,
    pub permissions: BTreeSet<String>,
    /// The next this many Graph requests answer 429 with this Retry-After.
    pub throttle: (usize, u64),
    pub page_size: usize,
    /// Method and path of every Graph request (not the token endpoint).
    pub requests: Vec<String>,
}

/// The fake; stops when dropped.
pub struct GraphServer {
    state: Arc<Mutex<State>>,
    _running: Running,
}

impl GraphServer {
    /// A server for tenant `contoso` and app `usersync-app` / `s3cret`,
    /// with every permission and pages of 2 objects.
    pub fn start() -> GraphServer {
        let state = Arc::new(Mutex::new(State {
            base: String::new(),
            tenant: "contoso".into(),
            client_id: "usersync-app".into(),
            client_secret: "s3cret".into(),
            users: Vec::new(),
            groups: Vec::new(),
            version: 1,
            tokens: Vec::new(),
            token_requests: 0,
            permissions: PERMISSIONS.iter().map(|p| p.to_string()).collect(),
            throttle: (0, 0),
            page_size: 2,
            requests: Vec::new(),
        }));
        let running = tls::serve(routes::router(state.clone()));
        state.lock().unwrap().base = format!("https://127.0.0.1:{}", running.addr.port());
        GraphServer {
            state,
            _running: running,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// `https://127.0.0.1:PORT` (the origin to grant).
    pub fn origin(&self) -> String {
        self.state().base.clone()
    }
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.origin())
    }
    pub fn token_url(&self) -> String {
        let s = self.state();
        format!("{}/{}/oauth2/v2.0/token", s.base, s.tenant)
    }
    pub fn client_id(&self) -> String {
        self.state().client_id.clone()
    }
    pub fn client_secret(&self) -> String {
        self.state().client_secret.clone()
    }

    fn bump(&self) -> u64 {
        let mut s = self.state();
        s.version += 1;
        s.version
    }

    pub fn add_user(&self, user: GraphUser) {
        let version = self.bump();
        self.state().users.push(Tracked {
            obj: user,
            version,
            removed: false,
        });
    }

    /// Change a user (rename, disable, ...); delta queries report it.
    pub fn update_user(&self, id: &str, change: impl FnOnce(&mut GraphUser)) {
        let version = self.bump();
        let mut s = self.state();
        let u = s
            .users
            .iter_mut()
            .find(|u| u.obj.id == id)
            .expect("no such user");
        change(&mut u.obj);
        u.version = version;
    }

    /// Delete a user (soft delete: delta reports `@removed: changed`).
    pub fn remove_user(&self, id: &str) {
        let version = self.bump();
        let mut s = self.state();
        for g in &mut s.groups {
            if g.obj.members.iter().any(|m| m == id) {
                g.obj.members.retain(|m| m != id);
                g.version = version;
            }
        }
        let u = s
            .users
            .iter_mut()
            .find(|u| u.obj.id == id)
            .expect("no such user");
        u.removed = true;
        u.version = version;
    }

    pub fn add_group(&self, group: GraphGroup) {
        let version = self.bump();
        self.state().groups.push(Tracked {
            obj: group,
            version,
            removed: false,
        });
    }

    /// Replace a group's direct members.
    pub fn set_members(&self, group: &str, members: &[&str]) {
        let version = self.bump();
        let mut s = self.state();
        let g = s
            .groups
            .iter_mut()
            .find(|g| g.obj.id == group)
            .expect("no such group");
        g.obj.members = members.iter().map(|m| m.to_string()).collect();
        g.version = version;
    }

    pub fn remove_group(&self, id: &str) {
        let version = self.bump();
        let mut s = self.state();
        let g = s
            .groups
            .iter_mut()
            .find(|g| g.obj.id == id)
            .expect("no such group");
        g.removed = true;
        g.version = version;
    }

    /// Take an application permission away (403 where it is needed).
    pub fn revoke(&self, permission: &str) {
        self.state().permissions.remove(permission);
    }

    /// The next `count` Graph requests answer 429 with `Retry-After: secs`.
    pub fn throttle(&self, count: usize, retry_after_secs: u64) {
        self.state().throttle = (count, retry_after_secs);
    }

    pub fn set_page_size(&self, n: usize) {
        self.state().page_size = n.max(1);
    }

    /// How many times the token endpoint was called.
    pub fn token_requests(&self) -> usize {
        self.state().token_requests
    }

    /// `GET /v1.0/...` paths served so far (query strings dropped).
    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }
}
