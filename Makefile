# The two commands of the README: `make demo` and `make test`.
SWIFT ?= swift
MPCC := .build/release/mpcc
MNIST := Models/mnist_resnet

.PHONY: deps build release test demo bench clean

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

# The whole story on the bundled MNIST ResNet: plan block ReLUs at 10% of its DReLUs,
# compile to bytecode, show the program, run it with three local parties (client,
# server, helper as processes over encrypted loopback TCP) on held-out images, and
# compare with the plaintext emulator and the float accuracy of the original network.
demo: release
	@mkdir -p $(DEMO)
	$(MPCC) $(MNIST)/model.onnx --keep-maxpool --budget 0.1 --calibration $(MNIST)/calibration.npy \
		--labels $(MNIST)/calibration_labels.npy --distortion fast --emit spec -o $(DEMO)/plan.json
	$(MPCC) $(MNIST)/model.onnx --keep-maxpool --spec $(DEMO)/plan.json --calibration $(MNIST)/calibration.npy -o $(DEMO)/mnist.mpcb
	$(MPCR) inspect $(DEMO)/mnist.mpcb | grep -v '^; #' | head -n 14
	$(MPCR) local $(DEMO)/mnist.mpcb --input $(MNIST)/test.npy --labels $(MNIST)/test_labels.npy --output $(DEMO)/secure.npy
	@echo "plaintext emulation of the same program:"
	@$(MPCR) emulate $(DEMO)/mnist.mpcb --input $(MNIST)/test.npy --labels $(MNIST)/test_labels.npy
	@echo "float accuracy of the original network:"
	@$(MPCC) $(MNIST)/model.onnx --keep-maxpool --infer $(MNIST)/test.npy --labels $(MNIST)/test_labels.npy

# The benchmark suite (Models/bench.py): exports the standard models once (torch needed),
# then runs each through three local parties every ReLU exact, with a 6% DReLU budget, and
# with that budget and 16-bit approximate DReLUs, over loopback and emulated LAN and WAN
# links (mpcr local --emulate-link). JSON in /tmp/mpcc-bench/bench.json.
LARGE := /tmp/mpcc-large
bench: release
	@for model in resnet18_cifar resnet50 mobilenet_v2; do \
		test -f $(LARGE)/$$model.onnx || python3 Models/export_large.py $(LARGE) --only $$model || exit 1; done
	python3 Models/bench.py --large $(LARGE)

clean:
	rm -rf .build
