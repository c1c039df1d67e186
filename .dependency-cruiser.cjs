// Import rules that keep the architecture's direction (see STYLE.md): no cycles, pure domain, standalone simulator.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'domain-is-pure',
      comment: 'src/domain knows nothing of Redis, HTTP, PostgreSQL or the rest of src.',
      severity: 'error',
      from: { path: '^src/domain' },
      to: { pathNot: ['^src/domain', '^node_modules/(decimal\\.js|zod)'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'domain-no-node-io',
      severity: 'error',
      from: { path: '^src/domain' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'contracts-only-domain',
      severity: 'error',
      from: { path: '^src/contracts' },
      to: { path: '^src/', pathNot: ['^src/(contracts|domain)'] },
    },
    {
      name: 'runtime-knows-no-domain',
      severity: 'error',
      from: { path: '^src/runtime' },
      to: { path: '^src/(domain|actors|gateway|workers|main)' },
    },
    {
      name: 'sim-stands-alone',
      comment: 'The simulator stands for Alpaca and AWS: it shares no code with the application.',
      severity: 'error',
      from: { path: '^src/sim' },
      to: { path: '^src/', pathNot: '^src/sim' },
    },
    {
      name: 'app-does-not-import-sim',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/sim', '^src/main'] },
      to: { path: '^src/sim' },
    },
    {
      name: 'roles-do-not-import-each-other',
      severity: 'error',
      from: { path: '^src/(actors|gateway|workers)/' },
      to: { path: '^src/(actors|gateway|workers)/', pathNot: '^src/$1/' },
    },
    {
      name: 'only-main-wires',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/main' },
      to: { path: '^src/main' },
    },
    { name: 'src-never-imports-test', severity: 'error', from: { path: '^src/' }, to: { path: '^test/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
