module github.com/doppel-synth/doppel/bindings/go

go 1.19
