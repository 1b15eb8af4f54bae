// The rewrite passes over the IR (fold-constants, fold-batchnorm, relu6-to-relu,
// maxpool-to-avgpool, ...) and the pass manager that verifies the IR after each one
// arrive with the float engine (issue 3); this target holds the stage's place.
import IR
