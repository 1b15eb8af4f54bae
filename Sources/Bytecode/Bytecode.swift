// The .mpcb/.mpcw formats, encoder, decoder and disassembler arrive with issue 5; this
// target holds the stage's place. It must never depend on the IR or the compiler.
