"""{{name}}: a usersync mapper in Python (componentize-py, world `mapper`).

Edit `map_user`; `describe` says who the plugin is. The job's [mapping]
table arrives in `configure` as JSON.
"""
import json

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import log, types


def text(obj, name):
    """The first text value of attribute `name`, or None."""
    for attr in obj.attributes:
        if attr.name.lower() == name.lower():
            for value in attr.values:
                if isinstance(value, types.AttrValue_Text):
                    return value.value
    return None


CONFIG = {}


def map_user(user):
    uid = text(user, "uid")
    if not uid:
        return Err(types.RecordError(field="uid", message="uid is empty: every user needs one"))
    given, family = text(user, "givenName"), text(user, "sn")
    display = " ".join(p for p in (given, family) if p) or None
    # Empty username and None fields would mean "leave alone" in a mapper chain.
    return Ok(types.TargetUser(
        username=uid.lower(), display_name=display, given_name=given, family_name=family,
        email=text(user, "mail"), phone=None, job_title=text(user, "title"), company=None,
        department=None, manager=None, employee_id=None, custom=[],
    ))


class MapperApi(exports.MapperApi):
    def describe(self):
        return types.Manifest(name="{{name}}", version="0.1.0", kind=types.PluginKind.MAPPER,
                              description="{{name}} (Python)", config_schema="{}", capabilities=[])

    def configure(self, config):
        global CONFIG
        try:
            CONFIG = json.loads(config) if config else {}
        except ValueError as e:
            raise Err(f"{{name}}: [mapping] is not JSON: {e}")
        log.log(log.Level.DEBUG, "{{name}} configured")

    def map_users(self, batch):
        return [map_user(user) for user in batch]

    def map_groups(self, batch):
        return [Ok(types.TargetGroup(name=text(g, "cn") or g.id, description=None)) for g in batch]
