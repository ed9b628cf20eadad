"""Ansible loads the callback plugin here because it sits beside collect.yml."""
