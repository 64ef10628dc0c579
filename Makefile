# Entry points; the scripts in scripts/ do the work.
.PHONY: test brokers-up brokers-down demo bench prerequisites

test:            ## install what is missing, start the test brokers, swift test, stop them
	bash scripts/test.sh $(ARGS)

brokers-up:      ## start the test brokers and print their env file (export lines)
	bash scripts/brokers.sh up

brokers-down:
	bash scripts/brokers.sh down

demo:            ## ARGS="--records 1000" passes options to `klife demo`
	bash scripts/demo.sh $(ARGS)

bench:
	bash scripts/bench.sh

prerequisites:
	bash scripts/install-prerequisites.sh
