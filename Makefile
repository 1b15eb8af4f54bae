# The two commands of the README: `make demo` and `make test`.
SWIFT ?= swift
MPCC := .build/release/mpcc
MNIST := Models/mnist_resnet

.PHONY: deps build release test demo clean

deps:
	@./scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

MPCR := .build/release/mpcr
DEMO := /tmp/mpcc-demo

# Until the three-party runtime exists (issue 6) the demo runs the compiled program in
# the plaintext emulator (the parties' exact arithmetic): the bundled MNIST ResNet is
# planned at 10% of its DReLUs, compiled to bytecode, disassembled, and emulated on
# held-out images, next to the float accuracy of the original and planned networks.
demo: release
	@mkdir -p $(DEMO)
	$(MPCC) $(MNIST)/model.onnx --keep-maxpool --budget 0.1 --calibration $(MNIST)/calibration.npy \
		--labels $(MNIST)/calibration_labels.npy --distortion fast --emit spec -o $(DEMO)/plan.json
	$(MPCC) $(MNIST)/model.onnx --keep-maxpool --spec $(DEMO)/plan.json --emit report
	$(MPCC) $(MNIST)/model.onnx --keep-maxpool --spec $(DEMO)/plan.json -o $(DEMO)/mnist.mpcb
	$(MPCR) inspect $(DEMO)/mnist.mpcb | grep -v '^; #' | head -n 14
	$(MPCR) emulate $(DEMO)/mnist.mpcb --input $(MNIST)/test.npy --labels $(MNIST)/test_labels.npy --output $(DEMO)/emulated.npy
	@echo "float accuracy of the original network:"
	@$(MPCC) $(MNIST)/model.onnx --keep-maxpool --infer $(MNIST)/test.npy --labels $(MNIST)/test_labels.npy
	@echo "float accuracy with the 10% block-ReLU plan:"
	@$(MPCC) $(MNIST)/model.onnx --keep-maxpool --spec $(DEMO)/plan.json --infer $(MNIST)/test.npy --labels $(MNIST)/test_labels.npy

clean:
	rm -rf .build
