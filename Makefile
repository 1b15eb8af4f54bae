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

# Until the runtime exists (issue 6) the demo shows the compiler's side of the story on
# the bundled MNIST ResNet: the IR, a block-ReLU plan at 10% of the DReLUs, and the
# plan's float accuracy on held-out images next to the original network's.
demo: release
	$(MPCC) $(MNIST)/model.onnx --keep-maxpool --emit ir | tail -n 12
	$(MPCC) $(MNIST)/model.onnx --keep-maxpool --budget 0.1 --calibration $(MNIST)/calibration.npy \
		--labels $(MNIST)/calibration_labels.npy --distortion fast --emit spec -o /tmp/mpcc-demo-plan.json
	$(MPCC) $(MNIST)/model.onnx --keep-maxpool --spec /tmp/mpcc-demo-plan.json --emit report
	@echo "original network:"
	@$(MPCC) $(MNIST)/model.onnx --keep-maxpool --infer $(MNIST)/test.npy --labels $(MNIST)/test_labels.npy
	@echo "with the 10% block-ReLU plan:"
	@$(MPCC) $(MNIST)/model.onnx --keep-maxpool --spec /tmp/mpcc-demo-plan.json --infer $(MNIST)/test.npy --labels $(MNIST)/test_labels.npy

clean:
	rm -rf .build
