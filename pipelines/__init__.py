"""Dagster definitions for Groundswell: assets, resources, jobs, schedules and checks.
The only package that imports dagster."""
