//! A deterministic generator of realistic directories (LDIF) for OpenLDAP.
//!
//! Layout under the base DN:
//! - `ou=people`: `inetOrgPerson` users, RDN `uid=<given>.<surname><index:06>` (ASCII), with cn,
//!   sn, givenName, displayName (unicode in places; some cn/sn contain commas), mail (every 10th
//!   user has a second one), title, departmentNumber, ou (department name), manager (a DN:
//!   user `(i-1)/8`, so user 0 is the root of an 8-ary tree), employeeNumber (`100000+i`),
//!   employeeType (`employee`, `contractor`, or **`disabled`** for ~1% of users: that is the
//!   "disabled" marker, there is no ppolicy), telephoneNumber (2 of 3 users), optionally
//!   userPassword (cleartext) and `memberOf`.
//! - `ou=groups`: `groupOfNames` groups with power-law sizes: group `j` has
//!   `max(1, round(users / 2 / (j + 1)))` distinct users (group 0 has half of them); every 25th
//!   group (`j % 25 == 1`) also has 1-2 nested groups with a higher index as members (a DAG).
//!   RDN `cn=grp-<j:05>`, except `j % 50 == 7` → `cn=Team <j>\, Ops` (comma in the RDN),
//!   `j % 50 == 13` → `cn=Équipe <j>` (unicode), `j % 50 == 21` → `cn=R&D \+ QA <j>` (plus).
//!   Groups are written children first (highest index first) so `ldapadd` through the memberof
//!   overlay sets every `memberOf`.
//! - optional `posixGroup` entries `cn=posix-<k>` with `memberUid` values.
//!
//! [`DirectorySpec::changes`] makes a deterministic set of mixed changes (renames, edits,
//! disables, deletions, new users, membership edits) as `ldapmodify` input.
//!
//! 100k users / 5k groups gives ~455k memberships and ~60 MB of LDIF; the plan for it takes a few
//! MB of memory and [`write_directory`] streams the LDIF.

mod changes;
mod names;
mod rng;
mod spec;
mod writer;

pub use changes::ChangeSet;
pub use spec::{DirectoryPlan, DirectorySpec, GenUser};
pub use writer::{generate_directory, write_directory, DirectoryStats};
