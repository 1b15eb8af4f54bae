// The plaintext float32 engine that executes verified IR graphs, the oracle for every
// later stage, arrives with issue 3; this target holds the stage's place.
import IR
