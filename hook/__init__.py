"""The post-reboot hook: a systemd oneshot unit that diagnoses the previous and the
current boot after each boot, keeps the last reports, and tells the journal."""
