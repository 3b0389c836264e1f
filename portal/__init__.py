"""The organiser portal: a small server-rendered web app where each local team's organisers
sign in and see only their own people, ladder and lists (docs/portal.md)."""
