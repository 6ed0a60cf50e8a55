"""The Pulumi program of fastdata: typed cluster spec, port matrix, one component per cloud, policy pack.

`infra/__main__.py` is the entry point Pulumi runs (`main: infra/` in Pulumi.yaml); everything else is an
ordinary package imported as `infra.<module>` from the repository root, by the program and by the tests.
"""
