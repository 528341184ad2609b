"""The fleet commands: `audit` (which Node services are at risk) and `adopt` (wire the sidecar in).

They share the init job's pieces: task definitions are parsed by `sidecar.sources.ecs_api`, memory
is budgeted and the heap planned by `sidecar.sizing` (through the one adapter, `fleet/sizing.py`),
and EMF figures are rendered by `sidecar.outputs.emf`.

- `recognize.py`: does a container run Node, and how can one tell (pure).
- `wiring.py`: is a Node container wired to this sidecar, and what is missing (pure).
- `sizing.py`: the adapter to `sidecar.sizing`: what the sidecar would decide for a container (pure).
- `evidence.py`: what stopped tasks say (OOM kills, exit codes 137/134/139) (pure).
- `assess.py`: one Node container's verdict and findings (pure).
- `report.py`: the table, the JSON list and the EMF lines (pure rendering).
- `inventory.py`: clusters, services, task definitions and stopped tasks through boto3 (I/O).
- `client.py`: the ECS client (retries, pool size) and its API-call counter.
- `progress.py`: progress on stderr (a bar on a terminal, plain lines otherwise).
- `images.py`: what each image runs (ENTRYPOINT, CMD, Env, ...), read from the Docker daemon, the
  cache or the registry (I/O); `image_config.py`: manifests, indexes and configs (pure);
  `image_cache.py`: the cache on disk, by digest.
- `formats.py`: task definitions as kept (API JSON, Terraform, CloudFormation JSON/YAML) read and written
  back; `cfn_casing.py`: CloudFormation's property names <-> the API's; `intrinsics.py`: intrinsic
  functions and unrendered templates (pure).
- `audit.py` and `adopt.py`: the two commands; `rewrite.py`: adopt's pure task-definition rewrite;
  `commands.py`: their arguments.
"""
