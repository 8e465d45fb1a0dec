//! LDIF that makes a server: the base entries and the cn=config (database, overlays, TLS).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, bail, Result};

use super::SlapdOptions;
use crate::tls::TlsFiles;

/// The first RDN of `suffix` as (attribute, value), e.g. ("dc", "example").
fn first_rdn(suffix: &str) -> Result<(String, String)> {
    let first = suffix.split(',').next().unwrap_or_default();
    let (a, v) = first
        .split_once('=')
        .ok_or_else(|| anyhow!("cannot parse suffix {suffix:?}"))?;
    Ok((a.trim().to_ascii_lowercase(), v.trim().to_string()))
}

/// LDIF of the suffix entry plus `ou=people` and `ou=groups`.
pub fn base_ldif(suffix: &str) -> Result<String> {
    let (attr, value) = first_rdn(suffix)?;
    let mut s = format!("dn: {suffix}\n");
    match attr.as_str() {
        "dc" => {
            let _ = write!(
                s,
                "objectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: {value}\no: {value}\n"
            );
        }
        "o" => {
            let _ = write!(
                s,
                "objectClass: top\nobjectClass: organization\no: {value}\n"
            );
        }
        "ou" => {
            let _ = write!(
                s,
                "objectClass: top\nobjectClass: organizationalUnit\nou: {value}\n"
            );
        }
        other => bail!("suffix must start with dc=, o= or ou=, not {other}="),
    }
    for ou in ["people", "groups"] {
        let _ = write!(
            s,
            "\ndn: ou={ou},{suffix}\nobjectClass: top\nobjectClass: organizationalUnit\nou: {ou}\n"
        );
    }
    Ok(s)
}

pub(super) fn config_ldif(opts: &SlapdOptions, root: &Path, tls: &TlsFiles) -> String {
    let d = root.display();
    let suffix = &opts.suffix;
    let admin = format!("cn=admin,{suffix}");
    let mut s = format!(
        "dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {d}/slapd.pid
olcArgsFile: {d}/slapd.args
olcTLSCACertificateFile: {ca}
olcTLSCertificateFile: {cert}
olcTLSCertificateKeyFile: {key}
olcLogLevel: none
olcToolThreads: 2

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: refint
olcModuleLoad: syncprov

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/nis.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: size.soft=unlimited size.hard=unlimited size.pr=unlimited size.prtotal=unlimited
olcTimeLimit: unlimited

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {d}/data
olcSuffix: {suffix}
olcRootDN: {admin}
olcRootPW: {pw}
olcDbMaxSize: {maxsize}
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: entryUUID,entryCSN eq
olcDbIndex: uid,cn,mail eq
olcDbIndex: member,memberOf,manager eq
olcLimits: {{0}}dn.exact=\"{admin}\" size=unlimited time=unlimited
olcLimits: {{1}}* size.soft=unlimited size.hard=unlimited size.pr=unlimited size.prtotal=unlimited time=unlimited
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by * read
",
        ca = tls.ca_cert.display(),
        cert = tls.server_cert.display(),
        key = tls.server_key.display(),
        pw = opts.admin_password,
        maxsize = opts.db_max_size,
    );
    // syncprov is configured first, as usually recommended. (Whatever the order, changes the
    // memberof/refint overlays make on other entries don't get a new entryCSN, so a syncprov
    // refresh with a cookie does not report them: measured, see README.)
    let mut n = 0;
    if opts.syncprov {
        let _ = write!(
            s,
            "
dn: olcOverlay={{{n}}}syncprov,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {{{n}}}syncprov
olcSpCheckpoint: 100 10
"
        );
        if let Some(log) = opts.syncprov_sessionlog {
            let _ = writeln!(s, "olcSpSessionlog: {log}");
        }
        n += 1;
    }
    let _ = write!(
        s,
        "
dn: olcOverlay={{{n}}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{{n}}}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
olcMemberOfDangling: ignore

dn: olcOverlay={{{m}}}refint,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRefintConfig
olcOverlay: {{{m}}}refint
olcRefintAttribute: member
olcRefintAttribute: manager
",
        m = n + 1
    );
    s
}
