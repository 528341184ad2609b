"""The fleet commands: `audit` (which Node services are at risk) and `adopt` (wire the sidecar in).

Every rule the init job also applies comes from the job's own code: task definitions are parsed by
`sidecar.sources.ecs_api`; which container is the init container and which is Node, the budget and
the heap plan by `sidecar.sizing` (through the one adapter, `fleet/sizing.py`, which asks the job's
own `decide`); env-file names and how a command reads the file by `sidecar.outputs.envfile`; image
references by `sidecar.imageref`; EMF by `sidecar.outputs.emf`.

What they read:
- `images.py`: what each image runs (ENTRYPOINT, CMD, Env, ...), from the Docker daemon, the cache or
  the registry (I/O); `image_config.py`: manifests, indexes and configs (pure); `image_cache.py`: the
  cache on disk, by digest.
- `formats.py`: task definitions as kept (API JSON, Terraform, CloudFormation JSON/YAML), read and
  written back; `cfn_casing.py`: CloudFormation's property names <-> the API's; `intrinsics.py`:
  intrinsic functions and unrendered templates (pure).
- `inventory.py`: clusters, services, task definitions and stopped tasks through boto3 (I/O);
  `client.py`: the ECS client and its API-call counter.
What they decide (pure):
- `definitions.py`: container definitions as people keep them (`null` is absent).
- `runs.py`: what a container runs by Docker's rules, and where Node starts in it.
- `recognize.py`: does a container run Node, and the evidence.
- `wiring.py`: is a Node container wired to this sidecar, and what is missing.
- `sizing.py`: what the init job would do with a task definition.
- `evidence.py`: what stopped tasks say (OOM kills, exit codes 137/134/139).
- `assess.py`: one Node container's verdict and findings.
- `rewrite.py`: adopt's rewrite of one task definition.
What they print: `report.py` (the table, the JSON list and the EMF lines), `progress.py` (stderr).
The commands: `audit.py`, `adopt.py`, and their arguments in `commands.py`.
"""
