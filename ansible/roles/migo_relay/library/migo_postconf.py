#!/usr/bin/python3
# -*- coding: utf-8 -*-
# migo_postconf — set Postfix main.cf parameters and master.cf services
# through postconf(1), touching only the keys given, reporting changed only
# when a value differs, with check mode and diff support.

DOCUMENTATION = r"""
---
module: migo_postconf
short_description: Set Postfix main.cf parameters and master.cf services with postconf
description:
  - Reads each given main.cf parameter with C(postconf -h) and each master.cf
    service with C(postconf -M), and writes only those that differ, with
    C(postconf -e) and C(postconf -M). Other parameters and services are left
    as they are.
options:
  config_dir:
    description: Postfix configuration directory (C(postconf -c)).
    type: path
    default: /etc/postfix
  main:
    description: main.cf parameters, name to value.
    type: dict
    default: {}
  master:
    description: >-
      master.cf services, C(name/type) to the whole entry as postconf -M
      prints it (fields and -o options, separated by single spaces).
    type: dict
    default: {}
author: migo-relay
"""

EXAMPLES = r"""
- name: Set enable_long_queue_ids
  migo_postconf:
    main:
      enable_long_queue_ids: "yes"
"""

RETURN = r"""
changed_keys:
  description: The parameters and services that were (or would be) changed.
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule


def squash(text):
    return " ".join(text.split())


def run(module, args):
    rc, out, err = module.run_command(["postconf", "-c", module.params["config_dir"]] + args)
    if rc != 0:
        module.fail_json(msg="postconf %s failed: %s" % (" ".join(args), err.strip()))
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type="path", default="/etc/postfix"),
            main=dict(type="dict", default={}),
            master=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    changed, before, after = [], [], []
    main_cf = {}
    for name, value in sorted(module.params["main"].items()):
        value = "" if value is None else str(value)
        # The value set in main.cf ("name = value"), else Postfix's default
        # (unknown names: empty).
        rc, out, err = module.run_command(["postconf", "-c", module.params["config_dir"], "-n", name])
        if rc == 0 and out.startswith(name + " ="):
            current = out.split("=", 1)[1].strip()
        else:
            rc, out, err = module.run_command(["postconf", "-c", module.params["config_dir"], "-h", name])
            current = out.strip() if rc == 0 else ""
        if squash(current) != squash(value):
            changed.append(name)
            before.append("%s = %s" % (name, current))
            after.append("%s = %s" % (name, value))
            main_cf[name] = value
    master_cf = {}
    for service, entry in sorted(module.params["master"].items()):
        out = run(module, ["-M", service])
        current = squash(out)
        if current != squash(entry):
            changed.append(service)
            before.append(current)
            after.append(squash(entry))
            master_cf[service] = squash(entry)
    if changed and not module.check_mode:
        for name, value in main_cf.items():
            run(module, ["-e", "%s=%s" % (name, value)])
        for service, entry in master_cf.items():
            run(module, ["-M", "%s=%s" % (service, entry)])
    result = dict(changed=bool(changed), changed_keys=changed)
    if module._diff:
        result["diff"] = dict(before="\n".join(before) + ("\n" if before else ""),
                              after="\n".join(after) + ("\n" if after else ""),
                              before_header="postconf", after_header="postconf")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
