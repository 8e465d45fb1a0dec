// {{name}}: a usersync connector in JavaScript (componentize-js, world `connector`).
// The engine has no file or socket API: it reads a JSON-lines file (one user
// object with an `id` per line) through the host's brokered `http` import,
// from an origin the job grants. Edit `read`; describe says who the plugin is.
import { send } from "usersync:plugin/http@0.1.0";
import { checkpoint, putUsers, reject } from "usersync:plugin/target@0.1.0";

function loadConfig(raw) {
  const config = raw ? JSON.parse(raw) : {};
  if (typeof config.url !== "string") {
    throw new Error("set [jobs.source] url = \"https://<host>/<file>.jsonl\" and grant its origin with " +
      "[jobs.grants] http = [\"https://<host>\"]");
  }
  return config;
}

/** The file's text; the host checks the grant, adds the credential and verifies TLS. */
function fetchText(config) {
  let r;
  try {
    r = send({ method: "GET", url: config.url, headers: [], body: undefined, credential: config.credential });
  } catch (e) {
    throw new Error(`${config.url}: ${e.payload ?? e}`);
  }
  if (r.status < 200 || r.status > 299) {
    throw new Error(`${config.url}: the server answered HTTP ${r.status}` +
      (r.status === 401 || r.status === 403 ? "; check the job's [jobs.credentials]" : ""));
  }
  return new TextDecoder().decode(r.body);
}

function user(record) {
  const attributes = Object.entries(record)
    .filter(([k, v]) => k !== "id" && v !== null)
    .map(([name, v]) => ({ name, values: [{ tag: "text", val: typeof v === "string" ? v : JSON.stringify(v) }] }));
  return { kind: "user", id: String(record.id), refKey: "", enabled: true, attributes, memberOf: [], members: [] };
}

export const connectorApi = {
  describe() {
    return {
      name: "{{name}}",
      version: "0.1.0",
      kind: "connector",
      description: "{{name}} (JavaScript)",
      configSchema: "{}",
      capabilities: ["http"],
    };
  },

  testConnection(raw) {
    try {
      const config = loadConfig(raw);
      fetchText(config);
      return [{ stage: "fetch", status: "ok", detail: `${config.url} answered` }];
    } catch (e) {
      return [{ stage: "fetch", status: "failed", detail: e.message }];
    }
  },

  // No change feed: an incremental read reads everything too.
  read(raw, _mode) {
    try {
      const config = loadConfig(raw);
      let batch = [];
      let count = 0;
      const flush = () => {
        if (batch.length) putUsers(batch);
        count += batch.length;
        batch = [];
      };
      fetchText(config).split(/\r\n|\r|\n/).forEach((line, i) => {
        if (!line.trim()) return;
        let record;
        try {
          record = JSON.parse(line);
        } catch (e) {
          reject(`line ${i + 1}`, `not JSON: ${e.message}`);
          return;
        }
        if (typeof record !== "object" || record === null || !record.id) {
          reject(`line ${i + 1}`, "a line must be an object with an id");
          return;
        }
        batch.push(user(record));
        if (batch.length === 500) flush();
      });
      flush();
      checkpoint(`lines=${count}`);
      return { users: BigInt(count), groups: 0n, complete: true };
    } catch (e) {
      // A thrown string fails the read with this message; the host's refusals carry theirs in `payload`.
      throw `{{name}}: ${e.payload ?? e.message ?? e}`;
    }
  },
};
