"""tern's runner for the official Elasticsearch YAML REST tests.

Why a runner of our own: Elasticsearch's runner is Java code built into its test framework; tern needs
one that runs against any URL (or a freshly started binary), applies ES 8 semantics to the 7.10.2 suite
(no mapping types, es8-incompatible exclusions) and produces a per-API pass rate plus a regression
gate for CI. The modules mirror the Java runner's pieces so its behaviour can be checked one by one:

- ``yamlload``   YAML with the scalar rules ES's (Jackson) parser uses, not PyYAML's YAML 1.1 defaults
- ``model``      the parsed form of a test file (sections, steps, skips)
- ``parse``      YAML documents -> model, with errors that name the file and test
- ``spec``       REST API specs -> HTTP requests (path choice, query string, NDJSON bodies)
- ``stash``      ``$name`` / ``${name}`` values carried between steps
- ``objectpath`` ``a.b.0.c`` lookups into responses
- ``assertions`` match / length / is_true / is_false / gt... with the Java runner's semantics
- ``skips``      version ranges and feature lists
- ``transport``  a small keep-alive HTTP client
- ``cluster``    wiping indices, templates and settings between tests
- ``server``     starting and stopping a tern binary for a run
- ``executor``   running setup / test / teardown and recording results
- ``discovery``  finding test files, typed-API files and exclusion lists
- ``report``     the summary, the expected-pass list and the JSON report
"""
