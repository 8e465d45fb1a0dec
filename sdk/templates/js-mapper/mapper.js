// {{name}}: a usersync mapper in JavaScript (componentize-js, world `mapper`).
// Edit mapUser; describe says who the plugin is. The job's [mapping] table
// arrives in configure as JSON.
import { log } from "usersync:plugin/log@0.1.0";

function text(obj, name) {
  const attr = obj.attributes.find((a) => a.name.toLowerCase() === name.toLowerCase());
  const value = attr && attr.values.find((v) => v.tag === "text");
  return value ? value.val : undefined;
}

let config = {};

function mapUser(user) {
  const uid = text(user, "uid");
  if (!uid) return { tag: "err", val: { field: "uid", message: "uid is empty: every user needs one" } };
  const given = text(user, "givenName");
  const family = text(user, "sn");
  return {
    tag: "ok",
    val: {
      username: uid.toLowerCase(),
      displayName: [given, family].filter(Boolean).join(" ") || undefined,
      givenName: given,
      familyName: family,
      email: text(user, "mail"),
      jobTitle: text(user, "title"),
      custom: [],
    },
  };
}

export const mapperApi = {
  describe() {
    return {
      name: "{{name}}",
      version: "0.1.0",
      kind: "mapper",
      description: "{{name}} (JavaScript)",
      configSchema: "{}",
      capabilities: [],
    };
  },
  configure(json) {
    try {
      config = json ? JSON.parse(json) : {};
    } catch (e) {
      throw `{{name}}: [mapping] is not JSON: ${e.message}`;
    }
    log("debug", "{{name}} configured");
  },
  mapUsers(batch) {
    return batch.map((user) => {
      try {
        return mapUser(user);
      } catch (e) {
        return { tag: "err", val: { message: `{{name}} failed on this record: ${e}` } };
      }
    });
  },
  mapGroups(batch) {
    return batch.map((g) => ({ tag: "ok", val: { name: text(g, "cn") || g.id } }));
  },
};
