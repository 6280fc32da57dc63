# The two commands: `make run` (local stack) and `make test` (whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
AWS_PORT ?= 4566
STAGE ?= prod

.PHONY: run test bench venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

run: venv  # data kept in .local/; FRESH=1 removes it first
	$(BIN)/python -m chalicelib.local --port $(PORT) --aws-port $(AWS_PORT)$(if $(filter 1 yes true,$(FRESH)), --fresh)

test: venv
	bash scripts/ensure-debian-packages.sh chromium:/usr/bin/chromium nodejs:node
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -m compileall -q app.py chalicelib  # app and baseline both measured with bytecode present
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis

# Deploying to AWS (README "Deploying to AWS"). `make package` builds build/$(STAGE)/sam.json
# and deployment.zip without AWS credentials; `make deploy` uploads them with the AWS CLI
# (pip install awscli) into $(DEPLOY_BUCKET) and creates or updates the stack. PARAMETERS
# passes any template parameters through, e.g.
# PARAMETERS="AlarmEmail=ops@example.com SetApiGatewayAccountRole=true".
DEPLOY_BUCKET ?=
STACK_NAME ?= temporalist-$(STAGE)
DOMAIN_NAME ?=
CERTIFICATE_ARN ?=
PARAMETERS ?=
PARAMETER_OVERRIDES = $(strip $(if $(DOMAIN_NAME),DomainName=$(DOMAIN_NAME) \
	CertificateArn=$(CERTIFICATE_ARN)) $(PARAMETERS))
AWS ?= $(if $(wildcard $(BIN)/aws),$(BIN)/aws,aws)

.PHONY: package deploy

package: venv
	$(BIN)/python -m chalicelib.deploy --stage $(STAGE) build/$(STAGE)

deploy: package
	@test -n "$(DEPLOY_BUCKET)" || { echo "DEPLOY_BUCKET must name an S3 bucket for the Lambda code" >&2; exit 2; }
	$(AWS) cloudformation package --template-file build/$(STAGE)/sam.json \
		--s3-bucket $(DEPLOY_BUCKET) --output-template-file build/$(STAGE)/packaged.yaml
	$(AWS) cloudformation deploy --template-file build/$(STAGE)/packaged.yaml \
		--stack-name $(STACK_NAME) --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
		$(if $(PARAMETER_OVERRIDES),--parameter-overrides $(PARAMETER_OVERRIDES))
	$(AWS) cloudformation describe-stacks --stack-name $(STACK_NAME) \
		--query "Stacks[0].Outputs" --output table
