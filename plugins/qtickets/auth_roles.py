"""Who may do what (ADR 0007): the FAB auth manager's roles of this deployment, created by the init step.

    python -m qtickets.auth_roles                 # roles + the admin user from AIRFLOW_ADMIN_USER / _PASSWORD
    python -m qtickets.auth_roles user NAME ROLE [NAME ROLE ...]  # users; one password a line on stdin

Three roles: ``qtickets_viewer`` (sees DAGs, runs, task states and logs; cannot trigger, clear, read
connections, variables or the configuration), ``qtickets_operator`` (the viewer's rights plus trigger,
clear, pause, backfill) and FAB's built-in ``Admin`` (everything, connections and variables included).
A role's permissions are set to exactly the list below on every run (extra ones are removed), so the
init step can be re-run after an upgrade. Passwords are never printed or passed on a command line.
"""

from __future__ import annotations

import os
import sys

VIEWER = "qtickets_viewer"
OPERATOR = "qtickets_operator"
ADMIN = "Admin"  # FAB's built-in role: every permission, kept in sync by FAB itself

_READ = "can_read"
#: What a viewer reads. Not here, on purpose: Connections, Variables, Configurations, Pools' edits, Users.
VIEWER_PERMISSIONS: tuple[tuple[str, str], ...] = tuple(
    (_READ, resource) for resource in (
        "DAGs", "DAG Runs", "Task Instances", "Task Logs", "DAG Code", "DAG Dependencies", "DAG Versions",
        "DAG Warnings", "XComs", "Audit Logs", "Assets", "Asset Aliases", "Backfills", "Pools", "ImportError",
        "Jobs", "Cluster Activity", "Triggers", "HITL Detail", "Website", "Plugins", "Providers", "Documentation",
        "My Profile",
    )
) + (("can_edit", "My Profile"), (_READ, "My Password"), ("can_edit", "My Password"))
#: An operator also starts and repairs runs: trigger (DAG edit + run create), clear, mark, pause, backfill.
OPERATOR_PERMISSIONS: tuple[tuple[str, str], ...] = VIEWER_PERMISSIONS + (
    ("can_edit", "DAGs"),
    ("can_create", "DAG Runs"), ("can_edit", "DAG Runs"),
    ("can_create", "Task Instances"), ("can_edit", "Task Instances"),
    ("can_create", "Backfills"), ("can_edit", "Backfills"),
)
ROLES: dict[str, tuple[tuple[str, str], ...]] = {VIEWER: VIEWER_PERMISSIONS, OPERATOR: OPERATOR_PERMISSIONS}


def sync_roles(appbuilder) -> None:
    """Create the roles and give each exactly its permissions."""
    sm = appbuilder.sm
    for name, wanted in ROLES.items():
        role = sm.find_role(name) or sm.add_role(name)
        have = {(p.action.name, p.resource.name): p for p in role.permissions}
        for action, resource in wanted:
            if (action, resource) not in have:
                sm.add_permission_to_role(role, sm.create_permission(action, resource))
        for key, permission in have.items():
            if key not in wanted:
                sm.remove_permission_from_role(role, permission)
        print(f"auth_roles: role {name} has {len(wanted)} permissions")


def ensure_user(appbuilder, username: str, role_name: str, password: str) -> None:
    """Create ``username`` with ``role_name`` only, or reset its role and password if it exists."""
    if not password:
        raise SystemExit(f"auth_roles: empty password for {username}")
    sm = appbuilder.sm
    role = sm.find_role(role_name)
    if role is None:
        raise SystemExit(f"auth_roles: no role {role_name}")
    user = sm.find_user(username=username)
    if user is None:
        if not sm.add_user(username, username, role_name, f"{username}@localhost", role, password):
            raise SystemExit(f"auth_roles: could not create user {username}")
        print(f"auth_roles: user {username} created with role {role_name}")
        return
    user.roles = [role]
    sm.update_user(user)
    sm.reset_password(user.id, password)
    print(f"auth_roles: user {username} updated (role {role_name}, password reset)")


def main(argv: list[str]) -> int:
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        if argv[:1] == ["user"] and len(argv) >= 3 and len(argv) % 2 == 1:
            for username, role in zip(argv[1::2], argv[2::2], strict=True):
                ensure_user(appbuilder, username, role, sys.stdin.readline().rstrip("\n"))
            return 0
        if argv:
            print(__doc__, file=sys.stderr)
            return 2
        sync_roles(appbuilder)
        ensure_user(appbuilder, os.environ["AIRFLOW_ADMIN_USER"], ADMIN, os.environ["AIRFLOW_ADMIN_PASSWORD"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
