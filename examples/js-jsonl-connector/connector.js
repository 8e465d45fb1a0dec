// jsonl-http in JavaScript: the usersync connector contract (wit/v0.1, world
// `connector`) implemented with componentize-js. The same JSON-lines reader
// as examples/python-jsonl-connector, but the engine has no file API, so the
// file comes through the host's brokered `http` import from an origin the
// job grants (`[jobs.grants] http`), with a credential the host adds.
//
//   full          every user line; users missing from the file are deactivated
//   incremental   the lines whose `updated_at` is later than the last run's
//                 cursor (ISO 8601 timestamps compare as text), lines with
//                 `"deleted": true` as deletions, and every group whole
// A line that is not a JSON object, or has no id, is rejected with its line
// number; the run goes on with the rest.
import { log } from "usersync:plugin/log@0.1.0";
import { send } from "usersync:plugin/http@0.1.0";
import { runAgainIn } from "usersync:plugin/schedule@0.1.0";
import { checkpoint, putGroups, putUsers, reject, remove } from "usersync:plugin/target@0.1.0";

const NAME = "jsonl-http";
const VERSION = "0.1.0";
const BATCH = 500;
const CURSOR_PREFIX = "jsonl:updated_at=";
const FIELDS = {
  id_field: "id",
  groups_field: "groups",
  enabled_field: "active",
  updated_field: "updated_at",
  deleted_field: "deleted",
};

const CONFIG_SCHEMA = JSON.stringify({
  type: "object",
  required: ["url"],
  properties: {
    url: { type: "string", description: "https://host/path/people.jsonl (its origin in [jobs.grants] http)" },
    credential: { type: "string", description: "a [jobs.credentials.NAME] the host adds" },
    ...Object.fromEntries(Object.entries(FIELDS).map(([k, d]) => [k, { type: "string", default: d }])),
  },
});

/** A failure of the whole read; the message names the fix. */
class Failed extends Error {}
/** One line that cannot be used; the message says why. */
class Rejected extends Error {}

function parseConfig(raw) {
  let table;
  try {
    table = raw ? JSON.parse(raw) : {};
  } catch (e) {
    throw new Failed(`[jobs.source] is not JSON: ${e.message}`);
  }
  if (typeof table !== "object" || table === null || Array.isArray(table)) {
    throw new Failed("[jobs.source] must be a table");
  }
  if (typeof table.url !== "string" || !/^https?:\/\//.test(table.url)) {
    throw new Failed("[jobs.source] url is missing: set it to https://<host>/<file>.jsonl and grant its " +
      "origin with [jobs.grants] http = [\"https://<host>\"]");
  }
  if (table.credential !== undefined && typeof table.credential !== "string") {
    throw new Failed("[jobs.source] credential must be the name of a [jobs.credentials.NAME] table");
  }
  const config = { url: table.url, credential: table.credential };
  for (const [key, fallback] of Object.entries(FIELDS)) {
    const value = table[key] ?? fallback;
    if (typeof value !== "string" || !value) {
      throw new Failed(`[jobs.source] ${key} must be a field name, such as "${fallback}"`);
    }
    config[key] = value;
  }
  config.special = new Set([config.id_field, config.groups_field, config.enabled_field, config.deleted_field]);
  return config;
}

/** The seconds of a Retry-After header, else `fallback`. */
function retryAfter(headers, fallback) {
  const found = headers.find(([name]) => name.toLowerCase() === "retry-after");
  const secs = found ? parseInt(found[1].trim(), 10) : NaN;
  return Math.max(1, Number.isFinite(secs) ? secs : fallback);
}

/** The file's text, fetched through the host (grant, credential, TLS and size checked there). */
function fetchText(config) {
  let r;
  try {
    r = send({
      method: "GET",
      url: config.url,
      headers: [["Accept", "application/jsonl, application/x-ndjson, text/plain, */*"]],
      body: undefined,
      credential: config.credential,
    });
  } catch (e) {
    throw new Failed(`${config.url}: ${e.payload ?? e}`);
  }
  if (r.status === 401 || r.status === 403) {
    throw new Failed(`${config.url}: the server refused the credentials (HTTP ${r.status}); check the ` +
      `job's [jobs.credentials.${config.credential ?? "<set `credential` in [jobs.source]>"}]`);
  }
  if (r.status === 429 || r.status === 503) {
    // The host already retried as far as its cap allows: ask for a later run.
    const secs = retryAfter(r.headers, 60);
    runAgainIn(secs);
    throw new Failed(`${config.url}: the server is throttling (HTTP ${r.status}); asked for the next run in ${secs} s`);
  }
  if (r.status < 200 || r.status > 299) {
    throw new Failed(`${config.url}: the server answered HTTP ${r.status}`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(r.body);
  } catch (e) {
    throw new Failed(`${config.url}: the file is not UTF-8 text`);
  }
}

/** [line number, line] for each non-blank line (\n, \r\n or \r ends a line). */
function lines(text) {
  const out = [];
  text.split(/\r\n|\r|\n/).forEach((line, i) => {
    if (line.trim()) out.push([i + 1, line]);
  });
  return out;
}

/** JSON as Python's json.dumps(sort_keys=True) writes it, so both connectors send the same text. */
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(", ")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}: ${canonical(v[k])}`).join(", ")}}`;
  }
  return JSON.stringify(v);
}

/** A JSON value as attribute values: lists give one value per item. */
function textValues(value) {
  const items = Array.isArray(value) ? value : [value];
  return items
    .filter((item) => item !== null && item !== undefined)
    .map((item) => ({ tag: "text", val: typeof item === "string" ? item : canonical(item) }));
}

/** { user, updated, deleted } from one line, or throws Rejected. */
function parseLine(config, line) {
  let record;
  try {
    record = JSON.parse(line);
  } catch (e) {
    throw new Rejected(`not JSON (${e.message})`);
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw new Rejected(`a line must be a JSON object, not ${Array.isArray(record) ? "list" : typeof record}`);
  }
  let uid = record[config.id_field];
  if (typeof uid === "number") uid = String(uid);
  if (typeof uid !== "string" || !uid.trim()) {
    throw new Rejected(`no \`${config.id_field}\`: every line needs a unique id (set id_field ` +
      "in [jobs.source] if the file names it differently)");
  }
  const groups = record[config.groups_field] ?? [];
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === "string")) {
    throw new Rejected(`\`${config.groups_field}\` must be a list of group names`);
  }
  const enabled = record[config.enabled_field] ?? true;
  if (typeof enabled !== "boolean") {
    throw new Rejected(`\`${config.enabled_field}\` must be true or false, not ${JSON.stringify(enabled)}`);
  }
  const attributes = Object.entries(record)
    .filter(([name]) => !config.special.has(name))
    .map(([name, value]) => ({ name, values: textValues(value) }));
  const user = {
    kind: "user",
    id: uid.trim(),
    refKey: "",
    enabled,
    attributes,
    memberOf: [...new Set(groups.filter((g) => g.trim()))].sort(),
    members: [],
  };
  const updated = record[config.updated_field];
  return { user, updated: typeof updated === "string" ? updated : undefined, deleted: record[config.deleted_field] === true };
}

/** Every good line; bad ones (and later lines repeating an id) are rejected through the host. */
function records(config, text) {
  const seen = new Map();
  const out = [];
  for (const [number, line] of lines(text)) {
    try {
      const parsed = parseLine(config, line);
      if (seen.has(parsed.user.id)) {
        throw new Rejected(`id '${parsed.user.id}' is already on line ${seen.get(parsed.user.id)}`);
      }
      seen.set(parsed.user.id, number);
      out.push(parsed);
    } catch (e) {
      if (!(e instanceof Rejected)) throw e;
      reject(`${config.url} line ${number}`, e.message);
    }
  }
  return out;
}

function groupObject(name, members) {
  return {
    kind: "group",
    id: name,
    refKey: name,
    enabled: true,
    attributes: [{ name: "cn", values: [{ tag: "text", val: name }] }],
    memberOf: [],
    members: [...members].sort(),
  };
}

/** Calls a `target` function; the host's refusal becomes the run's error. */
function toHost(what, call) {
  try {
    call();
  } catch (e) {
    throw new Failed(`the host refused ${what}: ${e.payload ?? e}`);
  }
}

/** Streams users, deletions and groups; returns [summary, newest updated_at]. */
function read(config, since) {
  let users = 0;
  let batch = [];
  let newest = since;
  const deleted = [];
  const members = new Map();
  const flush = () => {
    if (batch.length) toHost("a batch of users", () => putUsers(batch));
    users += batch.length;
    batch = [];
  };
  for (const { user, updated, deleted: isDeleted } of records(config, fetchText(config))) {
    if (!isDeleted) {
      for (const g of user.memberOf) {
        if (!members.has(g)) members.set(g, new Set());
        members.get(g).add(user.id);
      }
    }
    if (updated !== undefined && (newest === undefined || updated > newest)) newest = updated;
    if (since !== undefined && updated !== undefined && !(updated > since)) continue;
    if (isDeleted) {
      // A full read leaves it out (so it is deactivated); an incremental one reports it.
      if (since !== undefined) deleted.push(user.id);
      continue;
    }
    batch.push(user);
    if (batch.length >= BATCH) flush();
  }
  flush();
  if (deleted.length) toHost("the deletions", () => remove("user", deleted));
  // Groups go after every user, whole (their members may have changed).
  const groups = [...members.keys()].sort().map((name) => groupObject(name, members.get(name)));
  for (let i = 0; i < groups.length; i += BATCH) {
    toHost("a batch of groups", () => putGroups(groups.slice(i, i + BATCH)));
  }
  return [{ users: BigInt(users), groups: BigInt(groups.length), complete: true }, newest];
}

const check = (stage, ok, detail) => ({ stage, status: ok ? "ok" : "failed", detail });

export const connectorApi = {
  describe() {
    return {
      name: NAME,
      version: VERSION,
      kind: "connector",
      description: "Users and groups from a JSON-lines file over HTTPS (JavaScript)",
      configSchema: CONFIG_SCHEMA,
      capabilities: ["http", "incremental"],
    };
  },

  testConnection(raw) {
    let config;
    try {
      config = parseConfig(raw);
    } catch (e) {
      return [check("configuration", false, e.message)];
    }
    const checks = [check("configuration", true, "parsed")];
    let text;
    try {
      text = fetchText(config);
    } catch (e) {
      return [...checks, check("fetch", false, e.message)];
    }
    let good = 0;
    let bad = 0;
    let first;
    const seen = new Set();
    for (const [number, line] of lines(text)) {
      try {
        const { user } = parseLine(config, line);
        if (seen.has(user.id)) throw new Rejected(`id '${user.id}' repeats an earlier line`);
        seen.add(user.id);
        good += 1;
      } catch (e) {
        if (!(e instanceof Rejected)) throw e;
        bad += 1;
        first = first ?? `line ${number}: ${e.message}`;
      }
    }
    const detail = `${good} users, ${bad} rejected` + (first ? ` (first: ${first})` : "");
    return [...checks, check("fetch", true, `${config.url} answered`), check("sample", true, detail)];
  },

  read(raw, mode) {
    try {
      const config = parseConfig(raw);
      let since;
      if (mode.tag === "incremental" && mode.val.startsWith(CURSOR_PREFIX)) {
        since = mode.val.slice(CURSOR_PREFIX.length) || undefined;
      }
      const [summary, newest] = read(config, since);
      log("debug", `${NAME}: ${summary.users} users since ${since ?? "the start"}`);
      toHost("the checkpoint", () => checkpoint(CURSOR_PREFIX + (newest ?? "")));
      return summary;
    } catch (e) {
      // A thrown string is the read's error; anything else would trap the instance.
      throw `${NAME}: ${e instanceof Error ? e.message : e}`;
    }
  },
};
