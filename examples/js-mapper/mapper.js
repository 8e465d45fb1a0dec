// hr-mapper in JavaScript: the usersync mapper contract (wit/v0.1, world
// `mapper`) implemented with componentize-js. Same rules as
// examples/python-mapper, so either build can replace the other in a
// running host.
//
// Rules (all fields computed from the directory's attributes):
//   username    first letter of givenName + sn, lower case, ASCII only
//   department  departmentNumber looked up in a table ([mapping] departments
//               adds or overrides codes); an unknown code rejects the record
//   hire_date   hireDate (YYYY-MM-DD or LDAP YYYYMMDDhhmmssZ) written in
//               [mapping] date_format (default "%d %b %Y"), a custom field
//   job_title   title, prefixed "EXT-" for employeeType = contractor
// The interface `log` exports one function, also named `log`.
import { log } from "usersync:plugin/log@0.1.0";

const NAME = "hr-mapper";
const VERSION = "0.1.0-js";

const DEPARTMENTS = {
  ENG: "Engineering",
  FIN: "Finance",
  HR: "People",
  OPS: "Operations",
  SAL: "Sales",
};
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
// Latin letters with accents -> ASCII. This engine has no
// String.prototype.normalize; the Python mapper uses the same table, so both
// compute the same usernames.
const FOLD_GROUPS = {
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
};
const FOLD = new Map();
for (const [base, chars] of Object.entries(FOLD_GROUPS)) {
  for (const c of chars) FOLD.set(c, base);
}

const CONFIG_SCHEMA = JSON.stringify({
  type: "object",
  properties: {
    departments: { type: "object", additionalProperties: { type: "string" } },
    date_format: { type: "string" },
  },
});

/** The first non-blank text value of attribute `name` (case-insensitive). */
function text(obj, name) {
  const wanted = name.toLowerCase();
  for (const attr of obj.attributes) {
    if (attr.name.toLowerCase() !== wanted) continue;
    for (const value of attr.values) {
      if (value.tag === "text" && value.val.trim()) return value.val.trim();
    }
  }
  return undefined;
}

/** "Zoë Ågren" -> "zoeagren": accents dropped, letters and digits kept. */
function asciiFold(s) {
  let folded = "";
  for (const c of s.toLowerCase()) folded += FOLD.get(c) ?? c;
  return folded.replace(/[^a-z0-9]/g, "");
}

/** [year, month, day] from YYYY-MM-DD or YYYYMMDDhhmmssZ, else undefined. */
function parseDate(raw) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(raw) || /^(\d{4})(\d{2})(\d{2})\d*(?:\.\d+)?Z$/.exec(raw);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month - 1]) return undefined;
  return [year, month, day];
}

const pad = (n, width) => String(n).padStart(width, "0");

/** A strftime subset every language has: %Y %m %d %b %%. */
function formatDate(fmt, [year, month, day]) {
  const codes = { Y: pad(year, 4), m: pad(month, 2), d: pad(day, 2), b: MONTHS[month - 1], "%": "%" };
  return fmt.replace(/%([Ymdb%])/g, (_, code) => codes[code]);
}

const reject = (field, message) => ({ tag: "err", val: { field, message } });

class Mapper {
  constructor(config) {
    this.departments = { ...DEPARTMENTS };
    for (const [code, name] of Object.entries(config.departments || {})) {
      this.departments[String(code).toUpperCase()] = String(name);
    }
    this.dateFormat = config.date_format || "%d %b %Y";
  }

  mapUser(user) {
    const given = text(user, "givenName");
    const family = text(user, "sn");
    if (!given || !family) {
      const field = given ? "sn" : "givenName";
      return reject(field, `${field} is empty: the username is computed from givenName and sn`);
    }
    const username = (asciiFold(given).slice(0, 1) + asciiFold(family)).slice(0, 20);
    if (!username) {
      return reject("sn", `no letters or digits in '${given}' '${family}' to make a username from`);
    }

    let department;
    const code = text(user, "departmentNumber");
    if (code) {
      department = this.departments[code.toUpperCase()];
      if (department === undefined) {
        return reject("departmentNumber", `unknown department code '${code}': add it to [mapping] departments`);
      }
    }

    const custom = [];
    const rawDate = text(user, "hireDate");
    if (rawDate) {
      const date = parseDate(rawDate);
      if (!date) {
        return reject("hireDate", `'${rawDate}' is not a date (expected YYYY-MM-DD or YYYYMMDDhhmmssZ)`);
      }
      custom.push(["hire_date", formatDate(this.dateFormat, date)]);
    }

    let title = text(user, "title");
    if (title && (text(user, "employeeType") || "").toLowerCase() === "contractor") {
      title = "EXT-" + title;
    }
    const mail = text(user, "mail");
    return {
      tag: "ok",
      val: {
        username,
        displayName: `${given} ${family}`,
        givenName: given,
        familyName: family,
        email: mail ? mail.toLowerCase() : undefined,
        phone: undefined,
        jobTitle: title,
        company: undefined,
        department,
        manager: undefined,
        employeeId: text(user, "employeeNumber"),
        custom,
      },
    };
  }
}

// One mapper per instance: configure() runs once, before any batch.
let mapper = new Mapper({});

export const mapperApi = {
  describe() {
    return {
      name: NAME,
      version: VERSION,
      kind: "mapper",
      description: "HR rules in JavaScript: computed username, department lookup, hire date format",
      configSchema: CONFIG_SCHEMA,
      capabilities: [],
    };
  },

  configure(config) {
    let table;
    try {
      table = config ? JSON.parse(config) : {};
    } catch (e) {
      throw `${NAME}: [mapping] is not JSON: ${e.message}`;
    }
    if (typeof table !== "object" || table === null || Array.isArray(table)) {
      throw `${NAME}: [mapping] must be a table`;
    }
    const departments = table.departments ?? {};
    if (typeof departments !== "object" || departments === null || Array.isArray(departments)) {
      throw `${NAME}: [mapping] departments must be a table of code = "name"`;
    }
    if (table.date_format !== undefined && typeof table.date_format !== "string") {
      throw `${NAME}: [mapping] date_format must be a string such as "%d %b %Y"`;
    }
    mapper = new Mapper(table);
    log("debug", `${NAME} configured with ${Object.keys(mapper.departments).length} departments`);
  },

  mapUsers(batch) {
    return batch.map((user) => {
      // A bug hit by one record rejects that record, not the whole run.
      try {
        return mapper.mapUser(user);
      } catch (e) {
        return reject(undefined, `${NAME} failed on this record: ${e}`);
      }
    });
  },

  mapGroups(batch) {
    return batch.map((group) => ({
      tag: "ok",
      val: { name: text(group, "cn") || text(group, "name") || group.id, description: undefined },
    }));
  },
};
