pmmc run
