//! Example custom mapper: contractors' job titles get an `EXT-` prefix.
//! Every other field is left alone, so it runs after `default-mapper`.
use usersync_sdk::{export_mapper, Mapper, RecordError, SourceObject, TargetUser};

struct ContractorMapper;

impl Mapper for ContractorMapper {
    const NAME: &'static str = "contractor-mapper";
    // Accept (and ignore) whatever [mapping] holds: other mappers' keys live there too.
    type Config = serde::de::IgnoredAny;

    fn new(_config: Self::Config) -> Result<Self, String> {
        Ok(ContractorMapper)
    }

    fn map_user(&self, user: &SourceObject) -> Result<Option<TargetUser>, RecordError> {
        let kind = user.text("employeeType").unwrap_or_default();
        let prefix = if kind.eq_ignore_ascii_case("contractor") {
            "EXT-"
        } else {
            ""
        };
        let job_title = user.text("title").map(|title| format!("{prefix}{title}"));
        // Empty username and `None` fields mean "leave alone" in a mapper chain.
        Ok(Some(TargetUser {
            job_title,
            ..TargetUser::default()
        }))
    }
}

export_mapper!(ContractorMapper);
