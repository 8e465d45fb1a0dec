"""{{name}}: a usersync connector in Python (componentize-py, world `connector`).

Reads users from a JSON-lines file in the folder the job grants
(`[jobs.grants] input_dir`, mounted read-only at /input): one object per
line with an `id`; every other field becomes an attribute. Edit `read`.
"""
import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import connector_api as api
from wit_world.imports import target, types


def load_config(raw):
    config = json.loads(raw) if raw else {}
    if not isinstance(config, dict) or not isinstance(config.get("path"), str):
        raise ValueError("set [jobs.source] path = \"/input/<file>\" and grant the folder with "
                         "[jobs.grants] input_dir")
    return config


def user(record):
    attrs = [types.Attribute(name=k, values=[types.AttrValue_Text(str(v))])
             for k, v in record.items() if k != "id" and v is not None]
    return types.SourceObject(kind=types.ObjectKind.USER, id=str(record["id"]), ref_key="",
                              enabled=True, attributes=attrs, member_of=[], members=[])


class ConnectorApi(exports.ConnectorApi):
    def describe(self):
        return types.Manifest(name="{{name}}", version="0.1.0", kind=types.PluginKind.CONNECTOR,
                              description="{{name}} (Python)", config_schema="{}",
                              capabilities=["files"])

    def test_connection(self, config):
        try:
            path = load_config(config)["path"]
            with open(path, encoding="utf-8"):
                pass
            return [api.Check(stage="file", status=api.CheckStatus.OK, detail=f"{path} is readable")]
        except (ValueError, OSError) as e:
            return [api.Check(stage="file", status=api.CheckStatus.FAILED, detail=str(e))]

    def read(self, config, mode):
        # No change feed: an incremental read reads everything too.
        try:
            path = load_config(config)["path"]
            batch, count = [], 0
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                        if not isinstance(record, dict) or not record.get("id"):
                            raise ValueError("a line must be an object with an id")
                    except ValueError as e:
                        target.reject(f"{path} line {number}", str(e))
                        continue
                    batch.append(user(record))
                    if len(batch) == 500:
                        target.put_users(batch)
                        count, batch = count + len(batch), []
            if batch:
                target.put_users(batch)
                count += len(batch)
            target.checkpoint(f"lines={count}")
            return api.ReadSummary(users=count, groups=0, complete=True)
        except (ValueError, OSError) as e:
            raise Err(f"{{name}}: {e}")
        except Err as e:
            raise Err(f"{{name}}: the host refused: {e.value}")
