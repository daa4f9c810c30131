#!/bin/sh
# A dynamic inventory: prints JSON for --list, as Ansible's script plugin expects.
if [ "$1" != "--list" ]; then echo '{}'; exit 0; fi
cat <<'JSON'
{
  "hz": {"hosts": ["hz-1.example", "hz-2.example"], "vars": {"obshell_port": 2887}, "children": ["canary"]},
  "canary": ["hz-3.example"],
  "sh": {"hosts": ["sh-1.example"], "vars": {"obshell_scheme": "https", "obshell_verify_tls": false}},
  "all": {"hosts": ["lonely.example"], "vars": {"obshell_password_env": "SCRIPT_PASSWORD"}},
  "_meta": {"hostvars": {
    "hz-2.example": {"ansible_host": "127.63.0.2", "obshell_port": 2999},
    "sh-1.example": {"ansible_host": "::1"}
  }}
}
JSON
