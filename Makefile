# LLM relay gateway: every day-to-day command. `make help` lists them.
SHELL := /bin/bash
APP := app
NODE_MODULES := $(APP)/node_modules/.package-lock.json

.PHONY: help up down logs ps certs certs-letsencrypt key rotate usage grafana-password build test test-unit test-stack lint typecheck check-config bench stack-native stack-native-down mock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

$(NODE_MODULES): $(APP)/package-lock.json
	cd $(APP) && npm ci --no-audit --no-fund

build: $(NODE_MODULES) ## install dependencies and compile the gateway and the mock upstream
	cd $(APP) && npm run build

up: ## start or update the Docker Compose stack (creates .env and certs if missing; says which upstream is live)
	@scripts/up.sh

down: ## stop the Docker Compose stack (the mock too, if it is left from mock mode)
	docker compose down --remove-orphans

logs: ## follow the stack's logs
	docker compose logs -f --tail=100

ps: ## show the stack's services and their health
	docker compose ps

certs: ## make a self-signed CA and server certificate in certs/ (SANs from SERVER_NAME)
	@scripts/certs.sh

certs-letsencrypt: ## DOMAIN=… EMAIL=…: a Let's Encrypt certificate through the running nginx; turns on its renewal service
	@scripts/certs-letsencrypt.sh "$(DOMAIN)" "$(EMAIL)"

key: ## print a new gateway key and the GATEWAY_KEYS entry for it (ID=name); `make key rotate ID=name [OVERLAP=7d] [KEYS_FILE=path]` gives a key id a new secret
	@scripts/key.sh $(if $(filter rotate,$(MAKECMDGOALS)),rotate $(ID) --overlap=$(or $(OVERLAP),7d) $(if $(KEYS_FILE),--file=$(KEYS_FILE)),$(ID))

# `rotate` is a word of `make key rotate`, not a target of its own.
rotate:
	@:

usage: ## requests, tokens and cost per key from the usage API (KEY=id for one key by day, DAYS=7); ADMIN_URL=… asks a replica from this host
	@if [ -n "$(ADMIN_URL)" ]; then node $(APP)/dist/cli/usage.js --key=$(KEY) --days=$(or $(DAYS),7); \
	else docker compose exec -T gateway sh -c 'node dist/cli/usage.js --key="$$1" --days="$$2"' - "$(KEY)" "$(or $(DAYS),7)"; fi

grafana-password: ## make Grafana's admin password GRAFANA_ADMIN_PASSWORD from .env again
	@scripts/grafana-password.sh

typecheck: $(NODE_MODULES)
	cd $(APP) && npm run typecheck

lint: $(NODE_MODULES)
	cd $(APP) && npm run lint

test: build ## everything: typecheck, lint, config checks, unit, integration and native stack tests
	@scripts/test.sh

bench: build ## benchmarks on loopback; results in bench/results/
	@scripts/bench.sh

stack-native: build ## the native stack of the tests (nginx, 3 gateways, redis, prometheus, mock), left running
	@node scripts/stack-native.mjs up --prometheus

stack-native-down: ## stop the native stack started by `make stack-native`
	@node scripts/stack-native.mjs down

mock: build ## run the mock upstream on :8090
	cd $(APP) && npm run mock

clean:
	rm -rf $(APP)/dist .stack
