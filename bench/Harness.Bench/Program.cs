// Benchmarks land with the engine (issue 4).
return 0;
