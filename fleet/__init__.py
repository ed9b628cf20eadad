"""Fleets: `diagnose fleet -i INVENTORY` collects on many hosts through Ansible and writes
one fleet report. This package must stay light: remote_collect.py runs on the hosts."""
