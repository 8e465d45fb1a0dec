"""jsonl connector in Python: the usersync connector contract (wit/v0.1,
world `connector`) implemented with componentize-py.

Reads users from a JSON-lines file in the folder the job grants
(`[jobs.grants] input_dir`, mounted read-only at /input): one JSON object per
line, one user per object. Groups are the names in each user's `groups` list.

  full          every user line; users missing from the file are deactivated
  incremental   the lines whose `updated_at` is later than the last run's
                cursor (ISO 8601 timestamps compare as text), lines with
                `"deleted": true` as deletions, and every group whole
A line that is not a JSON object, or has no id, is rejected with its line
number; the run goes on with the rest.
"""
import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import connector_api as api
from wit_world.imports import log, target, types

NAME = "jsonl"
VERSION = "0.1.0"
BATCH = 500
CURSOR_PREFIX = "jsonl:updated_at="

CONFIG_SCHEMA = json.dumps({
    "type": "object",
    "required": ["path"],
    "properties": {
        "path": {"type": "string", "description": "/input/<file>.jsonl"},
        "id_field": {"type": "string", "default": "id"},
        "groups_field": {"type": "string", "default": "groups"},
        "enabled_field": {"type": "string", "default": "active"},
        "updated_field": {"type": "string", "default": "updated_at"},
        "deleted_field": {"type": "string", "default": "deleted"},
    },
})


class Config:
    def __init__(self, raw):
        try:
            table = json.loads(raw) if raw else {}
        except ValueError as e:
            raise ValueError(f"[jobs.source] is not JSON: {e}")
        if not isinstance(table, dict):
            raise ValueError("[jobs.source] must be a table")
        self.path = table.get("path")
        if not isinstance(self.path, str) or not self.path:
            raise ValueError("[jobs.source] path is missing: set it to /input/<file>.jsonl "
                             "and grant the folder with [jobs.grants] input_dir")
        for key, default in (("id_field", "id"), ("groups_field", "groups"),
                             ("enabled_field", "active"), ("updated_field", "updated_at"),
                             ("deleted_field", "deleted")):
            value = table.get(key, default)
            if not isinstance(value, str) or not value:
                raise ValueError(f"[jobs.source] {key} must be a field name, such as \"{default}\"")
            setattr(self, key, value)
        self.special = {self.id_field, self.groups_field, self.enabled_field, self.deleted_field}


class Rejected(Exception):
    """One line that cannot be used; the message says why."""


def text_values(value):
    """A JSON value as attribute values: lists give one value per item."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, (int, float)):
            out.append(str(item))
        else:
            out.append(json.dumps(item, sort_keys=True))
    return [types.AttrValue_Text(v) for v in out]


def parse_line(config, line):
    """(user object, updated_at or None, deleted flag) from one line."""
    try:
        record = json.loads(line)
    except ValueError as e:
        raise Rejected(f"not JSON ({e.msg} at column {e.colno})")
    if not isinstance(record, dict):
        raise Rejected(f"a line must be a JSON object, not {type(record).__name__}")
    uid = record.get(config.id_field)
    if isinstance(uid, (int, float)) and not isinstance(uid, bool):
        uid = str(uid)
    if not isinstance(uid, str) or not uid.strip():
        raise Rejected(f"no `{config.id_field}`: every line needs a unique id (set id_field "
                       "in [jobs.source] if the file names it differently)")
    groups = record.get(config.groups_field, [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise Rejected(f"`{config.groups_field}` must be a list of group names")
    enabled = record.get(config.enabled_field, True)
    if not isinstance(enabled, bool):
        raise Rejected(f"`{config.enabled_field}` must be true or false, not {json.dumps(enabled)}")
    attributes = [types.Attribute(name=name, values=text_values(value))
                  for name, value in record.items() if name not in config.special]
    user = types.SourceObject(kind=types.ObjectKind.USER, id=uid.strip(), ref_key="",
                              enabled=enabled, attributes=attributes,
                              member_of=sorted(set(g for g in groups if g.strip())), members=[])
    updated = record.get(config.updated_field)
    return user, (updated if isinstance(updated, str) else None), record.get(config.deleted_field) is True


def lines(config):
    """(line number, line) for each non-blank line of the file."""
    try:
        handle = open(config.path, encoding="utf-8")
    except OSError as e:
        raise ValueError(f"cannot open {config.path}: {e.strerror}. Grant the folder that holds it "
                         "with `[jobs.grants] input_dir = ...` and set `path` to /input/<file>")
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def records(config):
    """(line number, user, updated_at, deleted) for every line; rejects the
    bad ones (and later lines repeating an id) through the host."""
    seen = {}
    for number, line in lines(config):
        try:
            user, updated, deleted = parse_line(config, line)
            if user.id in seen:
                raise Rejected(f"id {user.id!r} is already on line {seen[user.id]}")
            seen[user.id] = number
        except Rejected as e:
            target.reject(f"{config.path} line {number}", str(e))
            continue
        yield number, user, updated, deleted


def group_object(name, members):
    return types.SourceObject(kind=types.ObjectKind.GROUP, id=name, ref_key=name, enabled=True,
                              attributes=[types.Attribute("cn", [types.AttrValue_Text(name)])],
                              member_of=[], members=sorted(members))


def send(put, batch, what):
    if batch:
        try:
            put(batch)
        except Err as e:
            raise ValueError(f"the host refused a batch of {what}: {e.value}")


def read(config, since):
    """Stream users, deletions and groups; returns the summary and the new cursor."""
    users, batch, deleted, newest = 0, [], [], since
    members = {}
    for _, user, updated, is_deleted in records(config):
        if not is_deleted:
            for group in user.member_of:
                members.setdefault(group, set()).add(user.id)
        if updated is not None and (newest is None or updated > newest):
            newest = updated
        changed = since is None or updated is None or updated > since
        if not changed:
            continue
        if is_deleted:
            # A full read leaves it out (so it is deactivated); an
            # incremental one reports it.
            if since is not None:
                deleted.append(user.id)
            continue
        batch.append(user)
        if len(batch) >= BATCH:
            send(target.put_users, batch, "users")
            users, batch = users + len(batch), []
    send(target.put_users, batch, "users")
    users += len(batch)
    if deleted:
        target.remove(types.ObjectKind.USER, deleted)
    # Groups go after every user, whole (their members may have changed).
    groups = [group_object(name, ids) for name, ids in sorted(members.items())]
    for start in range(0, len(groups), BATCH):
        send(target.put_groups, groups[start:start + BATCH], "groups")
    return api.ReadSummary(users=users, groups=len(groups), complete=True), newest


class ConnectorApi(exports.ConnectorApi):
    def describe(self):
        return types.Manifest(
            name=NAME,
            version=VERSION,
            kind=types.PluginKind.CONNECTOR,
            description="Users and groups from a JSON-lines file (Python)",
            config_schema=CONFIG_SCHEMA,
            capabilities=["files", "incremental"],
        )

    def test_connection(self, config):
        def check(stage, ok, detail):
            status = api.CheckStatus.OK if ok else api.CheckStatus.FAILED
            return api.Check(stage=stage, status=status, detail=detail)
        try:
            cfg = Config(config)
        except ValueError as e:
            return [check("configuration", False, str(e))]
        checks = [check("configuration", True, "parsed")]
        good, bad, first = 0, 0, None
        try:
            seen = set()
            for number, line in lines(cfg):
                try:
                    user, _, _ = parse_line(cfg, line)
                    if user.id in seen:
                        raise Rejected(f"id {user.id!r} repeats an earlier line")
                    seen.add(user.id)
                    good += 1
                except Rejected as e:
                    bad += 1
                    first = first or f"line {number}: {e}"
        except ValueError as e:
            return checks + [check("file", False, str(e))]
        detail = f"{good} users, {bad} rejected" + (f" (first: {first})" if first else "")
        return checks + [check("file", True, f"{cfg.path} is readable"), check("sample", True, detail)]

    def read(self, config, mode):
        try:
            cfg = Config(config)
            since = None
            if isinstance(mode, api.ReadMode_Incremental) and mode.value.startswith(CURSOR_PREFIX):
                since = mode.value[len(CURSOR_PREFIX):] or None
            summary, newest = read(cfg, since)
            log.log(log.Level.DEBUG, f"{NAME}: {summary.users} users since {since or 'the start'}")
            try:
                target.checkpoint(CURSOR_PREFIX + (newest or ""))
            except Err as e:
                raise ValueError(f"the host refused the checkpoint: {e.value}")
            return summary
        except ValueError as e:
            raise Err(f"{NAME}: {e}")
