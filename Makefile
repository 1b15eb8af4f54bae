# The two commands of the README: `make demo` and `make test`.
SWIFT ?= swift
MPCC := .build/debug/mpcc
DEMO_MODEL := Models/tiny_resnet/model.onnx

.PHONY: deps build test demo clean

deps:
	@./scripts/install-deps.sh

build: deps
	$(SWIFT) build

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

# Until the runtime exists (issue 6) the demo shows the IR a bundled model compiles to.
demo: build
	$(MPCC) $(DEMO_MODEL) --emit ir

clean:
	rm -rf .build
