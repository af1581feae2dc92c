/**
 * Relabelling. The cases under "Prometheus' own cases" are model/relabel/relabel_test.go's
 * TestRelabel and TestTargetLabelValidity (prometheus/prometheus v2.42.0, commit 225c61122d88, and
 * the legacy-name cases added up to d15adb9ad7e5), each written as the YAML a user would write;
 * the rest are Meterway's: defaults, Go's template expansion, validation messages.
 */
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { compileRule, expand, relabel, type RawRelabelRule, type RelabelRule } from './relabel.js';

function rules(yaml: string): RelabelRule[] {
  const issues: string[] = [];
  const raw = parseYaml(yaml) as RawRelabelRule[];
  const out = raw.map((r, i) => compileRule(r, `metric_relabel_configs.${i}`, issues));
  if (issues.length > 0) throw new Error(issues.join('\n'));
  return out as RelabelRule[];
}

function run(input: Record<string, string>, yaml: string): Record<string, string> | 'dropped' {
  const labels = new Map(Object.entries(input));
  if (!relabel(labels, rules(yaml))) return 'dropped';
  return Object.fromEntries([...labels].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function problems(yaml: string): string[] {
  const issues: string[] = [];
  (parseYaml(yaml) as RawRelabelRule[]).forEach((r, i) => compileRule(r, `relabel_configs.${i}`, issues));
  return issues;
}

describe("Prometheus' own cases (TestRelabel)", () => {
  it('replace with ${1} twice', () => {
    expect(run({ a: 'foo', b: 'bar', c: 'baz' }, `
- source_labels: [a]
  regex: f(.*)
  target_label: d
  separator: ";"
  replacement: ch\${1}-ch\${1}
  action: replace`)).toEqual({ a: 'foo', b: 'bar', c: 'baz', d: 'choo-choo' });
  });

  it('two replaces, the second reading what the first wrote', () => {
    expect(run({ a: 'foo', b: 'bar', c: 'baz' }, `
- source_labels: [a, b]
  regex: f(.*);(.*)r
  target_label: a
  separator: ";"
  replacement: b\${1}\${2}m
- source_labels: [c, a]
  regex: (b).*b(.*)ba(.*)
  target_label: d
  separator: ";"
  replacement: $1$2$2$3`)).toEqual({ a: 'boobam', b: 'bar', c: 'baz', d: 'boooom' });
  });

  it('drop stops before later rules; drop on a match; no drop without a full match', () => {
    expect(run({ a: 'foo' }, `
- source_labels: [a]
  regex: .*o.*
  action: drop
- source_labels: [a]
  regex: f(.*)
  target_label: d
  replacement: ch$1-ch$1`)).toBe('dropped');
    expect(run({ a: 'foo', b: 'bar' }, '- {source_labels: [a], regex: .*o.*, action: drop}')).toBe('dropped');
    expect(run({ a: 'foo' }, '- {source_labels: [a], regex: no-match, action: drop}')).toEqual({ a: 'foo' });
    // Anchored: f|o matches neither all of "foo" nor any prefix of it as a whole.
    expect(run({ a: 'foo' }, "- {source_labels: [a], regex: 'f|o', action: drop}")).toEqual({ a: 'foo' });
  });

  it('replace takes a group from the middle', () => {
    expect(run({ a: 'abc' }, '- {source_labels: [a], regex: .*(b).*, target_label: d, replacement: $1}')).toEqual({ a: 'abc', d: 'b' });
  });

  it('keep', () => {
    expect(run({ a: 'foo' }, '- {source_labels: [a], regex: no-match, action: keep}')).toBe('dropped');
    expect(run({ a: 'foo' }, '- {source_labels: [a], regex: f.*, action: keep}')).toEqual({ a: 'foo' });
  });

  it('no replacement without a match', () => {
    expect(run({ a: 'boo' }, '- {source_labels: [a], regex: f, target_label: b, replacement: bar}')).toEqual({ a: 'boo' });
  });

  it('hashmod: the last 8 bytes of the MD5, big-endian, mod the modulus', () => {
    expect(run({ a: 'foo', b: 'bar', c: 'baz' }, '- {source_labels: [c], target_label: d, separator: ";", action: hashmod, modulus: 1000}')).toEqual({ a: 'foo', b: 'bar', c: 'baz', d: '976' });
    expect(run({ a: 'foo\nbar' }, '- {source_labels: [a], target_label: b, action: hashmod, modulus: 1000}')).toEqual({ a: 'foo\nbar', b: '734' });
  });

  it('labelmap', () => {
    expect(run({ a: 'foo', b1: 'bar', b2: 'baz' }, "- {regex: '(b.*)', replacement: 'bar_${1}', action: labelmap}")).toEqual({ a: 'foo', b1: 'bar', b2: 'baz', bar_b1: 'bar', bar_b2: 'baz' });
    expect(run({ a: 'foo', __meta_my_bar: 'aaa', __meta_my_baz: 'bbb', __meta_other: 'ccc' }, "- {regex: '__meta_(my.*)', replacement: '${1}', action: labelmap}")).toEqual({
      a: 'foo', __meta_my_bar: 'aaa', __meta_my_baz: 'bbb', __meta_other: 'ccc', my_bar: 'aaa', my_baz: 'bbb',
    });
  });

  it('a target label made from groups; an empty replacement or an invalid target changes nothing', () => {
    const re = "'some-([^-]+)-([^,]+)'";
    expect(run({ a: 'some-name-value' }, `- {source_labels: [a], regex: ${re}, replacement: '\${2}', target_label: '\${1}'}`)).toEqual({ a: 'some-name-value', name: 'value' });
    expect(run({ a: 'some-name-value' }, `- {source_labels: [a], regex: ${re}, replacement: '\${3}', target_label: '\${1}'}`)).toEqual({ a: 'some-name-value' });
    // Prometheus' test builds these rules without validating them; `0${3}` and `-${3}` would not
    // pass a config file's validation, so the compiled rule's target is swapped in.
    const [base] = rules(`- {source_labels: [a], regex: ${re}, replacement: '\${1}', target_label: '\${3}'}`);
    const labels = new Map([['a', 'some-name-value']]);
    expect(relabel(labels, [base, { ...base, targetLabel: '0${3}' }, { ...base, targetLabel: '-${3}' }])).toBe(true);
    expect(Object.fromEntries(labels)).toEqual({ a: 'some-name-value' });
    expect(run({ a: 'some-name-0' }, `
- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '\${1}', target_label: '\${3}'}
- {source_labels: [a], regex: 'some-([^-]+)(-[^,]+)', replacement: '\${1}', target_label: '\${3}'}`)).toEqual({ a: 'some-name-0' });
  });

  it('a blank replacement deletes the (expanded) target label', () => {
    expect(run({ a: 'foo', f: 'baz' }, "- {source_labels: [a], regex: '(f).*', target_label: '$1', replacement: '$2'}")).toEqual({ a: 'foo' });
  });

  it('a real-life service-discovery tag string', () => {
    expect(run({ __meta_sd_tags: 'path:/secret,job:some-job,label:foo=bar' }, `
- source_labels: [__meta_sd_tags]
  regex: '(?:.+,|^)path:(/[^,]+).*'
  replacement: '\${1}'
  target_label: __metrics_path__
- source_labels: [__meta_sd_tags]
  regex: '(?:.+,|^)job:([^,]+).*'
  replacement: '\${1}'
  target_label: job
- source_labels: [__meta_sd_tags]
  regex: '(?:.+,|^)label:([^=]+)=([^,]+).*'
  replacement: '\${2}'
  target_label: '\${1}'`)).toEqual({ __meta_sd_tags: 'path:/secret,job:some-job,label:foo=bar', __metrics_path__: '/secret', job: 'some-job', foo: 'bar' });
  });

  it('labelkeep, labeldrop', () => {
    expect(run({ a: 'foo', b1: 'bar', b2: 'baz' }, "- {regex: '(b.*)', action: labelkeep}")).toEqual({ b1: 'bar', b2: 'baz' });
    expect(run({ a: 'foo', b1: 'bar', b2: 'baz' }, "- {regex: '(b.*)', action: labeldrop}")).toEqual({ a: 'foo' });
  });

  it('uppercase, lowercase', () => {
    expect(run({ foo: 'bAr123Foo' }, `
- {source_labels: [foo], action: uppercase, target_label: foo_uppercase}
- {source_labels: [foo], action: lowercase, target_label: foo_lowercase}`)).toEqual({ foo: 'bAr123Foo', foo_lowercase: 'bar123foo', foo_uppercase: 'BAR123FOO' });
  });

  it('keepequal, dropequal', () => {
    const ports = { __tmp_port: '1234', __port1: '1234', __port2: '5678' };
    expect(run(ports, '- {source_labels: [__tmp_port], action: keepequal, target_label: __port1}')).toEqual(ports);
    expect(run(ports, '- {source_labels: [__tmp_port], action: dropequal, target_label: __port1}')).toBe('dropped');
    expect(run(ports, '- {source_labels: [__tmp_port], action: dropequal, target_label: __port2}')).toEqual(ports);
    expect(run(ports, '- {source_labels: [__tmp_port], action: keepequal, target_label: __port2}')).toBe('dropped');
  });

  it('issue 12283: a label dropped, then written again, then kept on', () => {
    expect(run({ __meta_kubernetes_pod_container_port_name: 'foo', __meta_kubernetes_pod_annotation_XXX_metrics_port: '9091' }, `
- {regex: '^__meta_kubernetes_pod_container_port_name$', action: labeldrop}
- {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: '(.+)', replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}
- {source_labels: [__meta_kubernetes_pod_container_port_name], regex: '^metrics$', action: keep}`)).toEqual({
      __meta_kubernetes_pod_annotation_XXX_metrics_port: '9091', __meta_kubernetes_pod_container_port_name: 'metrics',
    });
  });

  it('(?s): . matches a newline; an absent group is empty; named groups as ${name} and $name', () => {
    expect(run({ a: 'line1\nline2', b: 'bar', c: 'baz' }, "- {source_labels: [a], regex: 'line1.*line2', target_label: d, replacement: 'match${1}'}")).toEqual({ a: 'line1\nline2', b: 'bar', c: 'baz', d: 'match' });
    expect(run({ a: 'line1\nline2' }, `
- {source_labels: [a], regex: '(line1).*(?P<second>line2)', target_label: 'label1_\${1}', replacement: 'val_\${second}'}
- {source_labels: [a], regex: '(line1).*(?P<second>line2)', target_label: 'label2_$1', replacement: 'val_$second'}`)).toEqual({ a: 'line1\nline2', label1_line1: 'val_line2', label2_line1: 'val_line2' });
  });
});

describe("Prometheus' own cases (TestTargetLabelValidity)", () => {
  const cases: Array<[string, boolean]> = [
    ['-label', false], ['label', true], ['label${1}', true], ['${1}label', true], ['${1}', true], ['${', false], ['$', false], ['${}', false],
    ['foo${', false], ['$1', true], ['asd$2asd', true], ['-foo${1}bar-', false], ['_${1}_', true], ['foo${bar}foo', true],
  ];
  for (const [target, valid] of cases) {
    it(`${JSON.stringify(target)} is ${valid ? 'a valid' : 'an invalid'} replace target_label`, () => {
      const found = problems(`- {source_labels: [a], target_label: ${JSON.stringify(target)}}`);
      expect(found.length === 0, found.join()).toBe(valid);
    });
  }
});

describe('defaults', () => {
  it('action replace, regex (.*), replacement $1, separator ;', () => {
    expect(run({ a: 'x', b: 'y' }, '- {source_labels: [a, b], target_label: c}')).toEqual({ a: 'x', b: 'y', c: 'x;y' });
    // An absent source label joins as the empty string.
    expect(run({ b: 'y' }, '- {source_labels: [a, b], target_label: c}')).toEqual({ b: 'y', c: ';y' });
    // No source label at all: (.*) matches "", $1 is "", and setting "" deletes.
    expect(run({ c: 'old' }, '- {target_label: c}')).toEqual({});
    // A fixed value (Prometheus' "static" example).
    expect(run({}, '- {target_label: cluster, replacement: dev-us-central-0}')).toEqual({ cluster: 'dev-us-central-0' });
    // The action is case-insensitive, as Prometheus' YAML takes it.
    expect(run({ a: 'foo' }, '- {source_labels: [a], regex: foo, action: DROP}')).toBe('dropped');
  });

  it('regex is fully anchored; an explicit empty regex matches only the empty value', () => {
    expect(run({ a: 'xfoox' }, '- {source_labels: [a], regex: foo, action: keep}')).toBe('dropped');
    expect(run({}, "- {source_labels: [a], regex: '', action: keep}")).toEqual({});
    expect(run({ a: 'x' }, "- {source_labels: [a], regex: '', action: keep}")).toBe('dropped');
    expect(run({ a: 'x' }, '- {source_labels: [a], regex: null, action: keep}')).toBe('dropped');
  });

  it('renames the metric through __name__', () => {
    expect(run({ __name__: 'DCGM_FI_DEV_GPU_UTIL', gpu: '0' }, '- {source_labels: [__name__], regex: DCGM_FI_DEV_GPU_UTIL, target_label: __name__, replacement: meterway_gpu_compute_utilization_percent}'))
      .toEqual({ __name__: 'meterway_gpu_compute_utilization_percent', gpu: '0' });
  });

  it('maps a Kubernetes namespace to a project id', () => {
    const rule = "- {source_labels: [namespace], regex: 'tenant-(.*)', target_label: project_id, replacement: 'p-$1'}";
    expect(run({ namespace: 'tenant-a1b2c3d4' }, rule)).toEqual({ namespace: 'tenant-a1b2c3d4', project_id: 'p-a1b2c3d4' });
    expect(run({ namespace: 'kube-system' }, rule)).toEqual({ namespace: 'kube-system' });
  });
});

describe("Go's template expansion", () => {
  const m = (...groups: Array<string | undefined>): RegExpExecArray => {
    const a = [...groups] as unknown as RegExpExecArray;
    a.index = 0;
    a.input = groups[0] ?? '';
    return a;
  };
  it('expands numbers, braces, names; $$ is $; malformed references stay', () => {
    const g = m('ab', 'a', 'b');
    expect(expand('$1-$2', g)).toBe('a-b');
    expect(expand('${1}x', g)).toBe('ax');
    // `$1x` names the group "1x": absent, so empty.
    expect(expand('$1x', g)).toBe('');
    expect(expand('$1_suffix', g)).toBe('');
    expect(expand('$$1', g)).toBe('$1');
    expect(expand('$', g)).toBe('$');
    expect(expand('${', g)).toBe('${');
    expect(expand('${}', g)).toBe('${}');
    expect(expand('${1', g)).toBe('${1');
    expect(expand('$-', g)).toBe('$-');
    expect(expand('$9', g)).toBe('');
    // A leading zero makes a name, not a number.
    expect(expand('$01', g)).toBe('');
    // A group that did not take part is empty.
    expect(expand('[$2]', m('a', 'a', undefined))).toBe('[]');
    const named = m('ab', 'a');
    named.groups = { first: 'a' };
    expect(expand('$first/${first}/$other', named)).toBe('a/a/');
  });
});

describe('validation, as Prometheus validates, naming the key', () => {
  it('refuses what Prometheus refuses', () => {
    expect(problems('- {action: explode}')).toEqual(['relabel_configs.0.action: unknown relabel action "explode"; one of replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase']);
    expect(problems('- {source_labels: [a], action: hashmod, target_label: t}')).toEqual(['relabel_configs.0.modulus: the hashmod action needs a modulus above 0']);
    expect(problems('- {source_labels: [a]}')).toEqual(['relabel_configs.0.target_label: the replace action needs a target_label']);
    expect(problems('- {source_labels: [a], action: lowercase}')).toEqual(['relabel_configs.0.target_label: the lowercase action needs a target_label']);
    expect(problems('- {source_labels: [a], action: uppercase, target_label: x, replacement: y}')).toEqual(['relabel_configs.0.replacement: cannot be set for the uppercase action']);
    expect(problems('- {source_labels: [a], action: keepequal, target_label: x, regex: y}')).toEqual(['relabel_configs.0: the keepequal action takes only source_labels and target_label; remove regex, modulus, separator and replacement']);
    expect(problems('- {source_labels: [a], action: labeldrop, regex: x}')).toEqual(['relabel_configs.0: the labeldrop action takes only regex; remove source_labels, target_label, modulus, separator and replacement']);
    expect(problems("- {action: labelmap, regex: '(.*)', replacement: '-$1'}")).toEqual(['relabel_configs.0.replacement: "-$1" is not a valid replacement for labelmap (a label name, which may hold $1 or ${name})']);
    expect(problems('- {source_labels: [a], action: hashmod, modulus: 2, target_label: "$1"}')).toEqual(['relabel_configs.0.target_label: "$1" is not a valid label name for hashmod']);
    expect(problems("- {source_labels: ['a-b'], target_label: c}")).toEqual(['relabel_configs.0.source_labels.0: "a-b" is not a valid label name (letters, digits and \'_\', not starting with a digit)']);
    expect(problems("- {source_labels: [a], regex: '(?=x)', target_label: c}")[0]).toMatch(/^relabel_configs\.0\.regex: RE2 cannot compile "\(\?=x\)": .*; use RE2 syntax \(no lookaround, no backreferences\)$/);
  });
});
