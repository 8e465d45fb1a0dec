//! {{name}}: a usersync mapper. It gets each source record (the
//! connector's attributes) and returns the target fields it sets; fields
//! left `None` (and an empty username) are left to the other mappers in
//! the job's chain.

use serde::Deserialize;
use usersync_sdk::{export_mapper, Mapper, RecordError, SourceObject, TargetUser};

/// The job's `[jobs.mapping]` table. Other mappers' keys live there too,
/// so unknown keys are ignored.
#[derive(Deserialize, Default)]
pub struct Config {
    /// Put before every job title, e.g. `title_prefix = "EXT-"`.
    #[serde(default)]
    title_prefix: String,
}

pub struct Plugin {
    config: Config,
}

impl Mapper for Plugin {
    const NAME: &'static str = "{{name}}";
    const DESCRIPTION: &'static str = "{{name}}: job title with a prefix";
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Plugin { config })
    }

    fn map_user(&self, user: &SourceObject) -> Result<Option<TargetUser>, RecordError> {
        let job_title = user
            .text("title")
            .map(|t| format!("{}{t}", self.config.title_prefix));
        Ok(Some(TargetUser {
            job_title,
            ..TargetUser::default()
        }))
    }
}

export_mapper!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use usersync_sdk::ObjectKind;

    #[test]
    fn the_job_title_gets_the_prefix() {
        let mapper = Plugin::new(Config {
            title_prefix: "EXT-".into(),
        })
        .unwrap();
        let user = SourceObject::new(ObjectKind::User, "id-1")
            .with_text("title", vec!["Engineer".into()]);
        let mapped = mapper.map_user(&user).unwrap().unwrap();
        assert_eq!(mapped.job_title.as_deref(), Some("EXT-Engineer"));
        assert_eq!(mapped.username, "", "the username is left to other mappers");
    }
}
