"""Helpers for the Android demo's tests: kotlinc tools (kotlin_tools) and static checks (app_checks)."""
