// The three-party runtime (interpreter, protocols, transport, PRG) arrives with issue 6;
// this target holds the stage's place. It depends on the bytecode target only.
import Bytecode
