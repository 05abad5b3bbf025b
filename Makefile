# salesguard — the commands developers and CI use. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# Go-built tools (opa, buf, helm, weed, regal) live here; uv may live in ~/.local/bin.
export PATH := $(shell go env GOPATH 2>/dev/null)/bin:$(HOME)/.local/bin:$(PATH)

UV_SYNC := uv sync --frozen --quiet
PYTHON_PACKAGES := shared/src services/customers/src services/attendance/src services/orders/src services/commissions/src gateway/src
GENERATED := api/src/salesguard_api

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: uv
uv: # uv installs every Python dependency from the lock file
	@command -v uv >/dev/null || python3 -m pip install --quiet --disable-pip-version-check uv

.PHONY: sync
sync: uv ## install the workspace (Python packages) into .venv
	@$(UV_SYNC)

.PHONY: run
run: sync ## run the whole suite locally (embedded profile: SQLite, in-process policies, local objects)
	uv run --frozen salesguard run

.PHONY: tools
tools: ## build the pinned Go tools (opa, buf, helm, weed, regal) unless already present
	@bash scripts/ensure-tools.sh

.PHONY: postgres
postgres: ## install and start the PostgreSQL server the integration tests use
	@bash scripts/ensure-postgres.sh

.PHONY: chromium
chromium: ## install Debian's chromium for the browser tests (tests/browser) unless present
	@bash scripts/ensure-chromium.sh

.PHONY: graphql-tools
graphql-tools: ## install the pinned JavaScript tools of the GraphQL contract (tools/graphql) unless installed
	@bash scripts/ensure-graphql-tools.sh

.PHONY: proto
proto: sync ## regenerate the gRPC stubs (the salesguard_api package)
	@bash scripts/gen-proto.sh

.PHONY: proto-check
proto-check: proto ## fail when the committed stubs differ from freshly generated ones
	@git diff --exit-code --stat -- $(GENERATED) || { echo "stubs are stale: run 'make proto' and commit"; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard -- $(GENERATED))" || { echo "untracked stubs: run 'make proto' and commit"; exit 1; }

LOCALE := shared/src/salesguard/locale

.PHONY: translations
translations: sync ## extract the texts to translate and merge them into every language's .po
	uv run --frozen pybabel extract --no-default-keywords -k Translatable:1c,2 --no-location --no-wrap \
		--project salesguard --version 1 -o $(LOCALE)/salesguard.pot $(PYTHON_PACKAGES)
	uv run --frozen pybabel update --no-wrap --ignore-obsolete -i $(LOCALE)/salesguard.pot -d $(LOCALE) -D salesguard

.PHONY: lint
lint: sync tools graphql-tools ## ruff, mypy, buf lint, opa fmt/check, regal, policy data schemas, GraphQL schema lint, operations and client types, stale stubs, API breaking changes
	uv run --frozen ruff check .
	uv run --frozen ruff format --check .
	uv run --frozen mypy $(PYTHON_PACKAGES) tests gateway/tests benchmarks simulation
	buf lint
	opa fmt --list --fail policies/
	opa check --strict policies/
	regal lint policies/
	regal test .regal/rules
	uv run --frozen python -m tests.support.policy_data
	uv run --frozen python -m tests.contracts.graphql_operations
	node tools/graphql/lint.mjs
	@$(MAKE) --no-print-directory proto-check
	bash scripts/check-contracts.sh

.PHONY: operations
operations: sync ## check gateway/operations against the schema and rewrite the manifest the gateway ships
	uv run --frozen python -m tests.contracts.graphql_operations --write

.PHONY: client-types
client-types: graphql-tools ## generate the operations' TypeScript types into build/graphql-client (not committed)
	NODE_PATH=tools/graphql/node_modules tools/graphql/node_modules/.bin/graphql-codegen --config gateway/operations/codegen.yml

SCHEMA_BASE ?= HEAD~1

.PHONY: schema-diff
schema-diff: graphql-tools ## every change to gateway/schema.graphql since SCHEMA_BASE (default HEAD~1), safe ones too (graphql-inspector)
	tools/graphql/node_modules/.bin/graphql-inspector diff 'git:$(SCHEMA_BASE):gateway/schema.graphql' gateway/schema.graphql

.PHONY: policy-test
policy-test: tools ## opa test with coverage
	opa test policies/ --coverage --threshold 90 --fail-on-empty --timeout 120s > /dev/null && echo "opa test: passed, coverage >= 90 %"

.PHONY: chart
chart: sync tools ## Helm chart: lint --strict, render (default and production values), validate offline, match the code
	uv run --frozen python -m tests.deploy.settings_schema --check
	helm lint --strict charts/salesguard
	helm lint --strict charts/salesguard --values charts/salesguard/ci/production-values.yaml
	uv run --frozen pytest tests/deploy

.PHONY: chart-schema
chart-schema: sync ## regenerate values.schema.json's list of each component's settings from the code
	uv run --frozen python -m tests.deploy.settings_schema

.PHONY: pytest
pytest: sync tools postgres chromium ## unit and integration tests (real PostgreSQL, OPA, S3 and gRPC servers)
	uv run --frozen pytest --ignore=tests/deploy

.PHONY: test
test: lint policy-test chart pytest ## everything CI runs

.PHONY: images
images: sync tools ## build the five images with podman and run the chart's pods and a smoke story on them
	@bash scripts/images.sh

.PHONY: schema
schema: sync ## refresh the committed GraphQL SDL snapshot
	uv run --frozen strawberry export-schema salesguard_gateway.schema:schema --output gateway/schema.graphql

.PHONY: detection
detection: sync ## the detection simulation: a seeded company with injected schemes, recall, days to alert, false alerts, ranking AUC
	uv run --frozen python -m simulation $(DETECTION_ARGS)

.PHONY: bench
bench: sync tools postgres ## every benchmark (benchmarks/report.py lists them and their sizes), then one table of issue 16's targets
	uv run --frozen python -m benchmarks.report
