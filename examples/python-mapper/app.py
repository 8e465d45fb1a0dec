"""hr-mapper in Python: the usersync mapper contract (wit/v0.1, world
`mapper`) implemented with componentize-py. Same rules as examples/js-mapper,
so either build can replace the other in a running host.

Rules (all fields computed from the directory's attributes):
  username      first letter of givenName + sn, lower case, ASCII only
  department    departmentNumber looked up in a table ([mapping] departments
                adds or overrides codes); an unknown code rejects the record
  hire_date     hireDate (YYYY-MM-DD or LDAP YYYYMMDDhhmmssZ) written in
                [mapping] date_format (default "%d %b %Y"), a custom field
  job_title     title, prefixed "EXT-" for employeeType = contractor
"""
import json

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import log, types

NAME = "hr-mapper"
VERSION = "0.1.0-python"

DEPARTMENTS = {
    "ENG": "Engineering",
    "FIN": "Finance",
    "HR": "People",
    "OPS": "Operations",
    "SAL": "Sales",
}
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
# Latin letters with accents -> ASCII. The same table as the JS mapper (whose
# engine has no Unicode normalization), so both compute the same usernames.
FOLD_GROUPS = {
    "a": "àáâãäåāăą",
    "c": "çćĉċč",
    "d": "ďđð",
    "e": "èéêëēĕėęě",
    "g": "ĝğġģ",
    "h": "ĥħ",
    "i": "ìíîïĩīĭįı",
    "j": "ĵ",
    "k": "ķ",
    "l": "ĺļľŀł",
    "n": "ñńņňŉ",
    "o": "òóôõöøōŏő",
    "r": "ŕŗř",
    "s": "śŝşš",
    "t": "ţťŧ",
    "u": "ùúûüũūŭůűų",
    "w": "ŵ",
    "y": "ýÿŷ",
    "z": "źżž",
    "ae": "æ",
    "oe": "œ",
    "ss": "ß",
    "th": "þ",
}
FOLD = {c: base for base, chars in FOLD_GROUPS.items() for c in chars}

CONFIG_SCHEMA = json.dumps({
    "type": "object",
    "properties": {
        "departments": {"type": "object", "additionalProperties": {"type": "string"}},
        "date_format": {"type": "string"},
    },
})


def text(obj, name):
    """The first text value of attribute `name` (case-insensitive), or None."""
    wanted = name.lower()
    for attr in obj.attributes:
        if attr.name.lower() == wanted:
            for value in attr.values:
                if isinstance(value, types.AttrValue_Text) and value.value.strip():
                    return value.value.strip()
    return None


def ascii_fold(s):
    """"Zoë Ågren" -> "zoeagren": accents dropped, letters and digits kept."""
    folded = "".join(FOLD.get(c, c) for c in s.lower())
    return "".join(c for c in folded if "a" <= c <= "z" or "0" <= c <= "9")


def parse_date(raw):
    """(year, month, day) from YYYY-MM-DD or YYYYMMDDhhmmssZ, else None."""
    if len(raw) == 10 and raw[4] == "-" and raw[7] == "-":
        parts = (raw[0:4], raw[5:7], raw[8:10])
    elif len(raw) >= 8 and raw[:8].isdigit() and raw.endswith("Z"):
        parts = (raw[0:4], raw[4:6], raw[6:8])
    else:
        return None
    if not all(p.isdigit() for p in parts):
        return None
    year, month, day = (int(p) for p in parts)
    if not (1 <= month <= 12 and 1 <= day <= DAYS_IN_MONTH[month - 1]):
        return None
    return year, month, day


def format_date(fmt, year, month, day):
    """A strftime subset every language has: %Y %m %d %b %%."""
    codes = {"Y": "%04d" % year, "m": "%02d" % month, "d": "%02d" % day,
             "b": MONTHS[month - 1], "%": "%"}
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt) and fmt[i + 1] in codes:
            out.append(codes[fmt[i + 1]])
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


def reject(field, message):
    return Err(types.RecordError(field=field, message=message))


class Mapper:
    def __init__(self, config):
        self.departments = dict(DEPARTMENTS)
        for code, name in (config.get("departments") or {}).items():
            self.departments[str(code).upper()] = str(name)
        self.date_format = config.get("date_format") or "%d %b %Y"

    def map_user(self, user):
        given, family = text(user, "givenName"), text(user, "sn")
        if not given or not family:
            field = "givenName" if not given else "sn"
            return reject(field, f"{field} is empty: the username is computed from givenName and sn")
        username = (ascii_fold(given)[:1] + ascii_fold(family))[:20]
        if not username:
            return reject("sn", f"no letters or digits in {given!r} {family!r} to make a username from")

        department = None
        code = text(user, "departmentNumber")
        if code:
            department = self.departments.get(code.upper())
            if department is None:
                return reject("departmentNumber",
                              f"unknown department code {code!r}: add it to [mapping] departments")

        custom = []
        raw_date = text(user, "hireDate")
        if raw_date:
            date = parse_date(raw_date)
            if date is None:
                return reject("hireDate",
                              f"{raw_date!r} is not a date (expected YYYY-MM-DD or YYYYMMDDhhmmssZ)")
            custom.append(("hire_date", format_date(self.date_format, *date)))

        title = text(user, "title")
        kind = (text(user, "employeeType") or "").lower()
        if title and kind == "contractor":
            title = "EXT-" + title
        mail = text(user, "mail")
        return Ok(types.TargetUser(
            username=username,
            display_name=f"{given} {family}",
            given_name=given,
            family_name=family,
            email=mail.lower() if mail else None,
            phone=None,
            job_title=title,
            company=None,
            department=department,
            manager=None,
            employee_id=text(user, "employeeNumber"),
            custom=custom,
        ))


# One mapper per instance: configure() runs once, before any batch.
MAPPER = Mapper({})


class MapperApi(exports.MapperApi):
    def describe(self):
        return types.Manifest(
            name=NAME,
            version=VERSION,
            kind=types.PluginKind.MAPPER,
            description="HR rules in Python: computed username, department lookup, hire date format",
            config_schema=CONFIG_SCHEMA,
            capabilities=[],
        )

    def configure(self, config):
        global MAPPER
        try:
            table = json.loads(config) if config else {}
            if not isinstance(table, dict):
                raise ValueError("[mapping] must be a table")
            departments = table.get("departments", {})
            if not isinstance(departments, dict):
                raise ValueError("[mapping] departments must be a table of code = \"name\"")
            if not isinstance(table.get("date_format", ""), str):
                raise ValueError("[mapping] date_format must be a string such as \"%d %b %Y\"")
            MAPPER = Mapper(table)
        except ValueError as e:
            raise Err(f"{NAME}: {e}")
        log.log(log.Level.DEBUG, f"{NAME} configured with {len(MAPPER.departments)} departments")

    def map_users(self, batch):
        return [MAPPER.map_user(user) for user in batch]

    def map_groups(self, batch):
        return [Ok(types.TargetGroup(name=text(g, "cn") or text(g, "name") or g.id,
                                     description=None)) for g in batch]
