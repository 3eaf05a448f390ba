import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseTagList,
  parseTagPair,
  reportedTagsOf,
  reportedTagsText,
  TagError,
} from '../../src/domain/tags.js';

void describe('node tag rules', () => {
  void it('parses key=value lists, values may be empty or hold "="', () => {
    assert.deepEqual(parseTagList(' gpu=h100 , rack=r12,,empty=,eq=a=b '), [
      { key: 'gpu', value: 'h100' },
      { key: 'rack', value: 'r12' },
      { key: 'empty', value: '' },
      { key: 'eq', value: 'a=b' },
    ]);
    assert.deepEqual(parseTagList(''), []);
    assert.deepEqual(parseTagPair('gpu', 'any'), { key: 'gpu' });
    assert.deepEqual(parseTagPair('gpu', 'empty'), { key: 'gpu', value: '' });
  });

  void it('refuses empty or long keys, long values, control characters, duplicates, > 20', () => {
    const bad: [string, RegExp][] = [
      ['=v', /must not be empty/],
      [`${'k'.repeat(129)}=v`, /longer than 128 characters/],
      [`k=${'v'.repeat(129)}`, /value of tag "k" is longer than 128/],
      ['k=a\nb', /control character/],
      ['k=1,k=2', /"k" is given twice/],
      [Array.from({ length: 21 }, (_, i) => `k${i}=v`).join(','), /at most 20 tags/],
    ];
    for (const [text, message] of bad) {
      assert.throws(
        () => parseTagList(text),
        (err: unknown) => {
          assert.ok(err instanceof TagError);
          assert.match(err.message, message);
          return true;
        },
      );
    }
    // 128 characters, not bytes: a multi-byte character counts once.
    assert.equal(parseTagList(`${'é'.repeat(128)}=${'漢'.repeat(128)}`).length, 1);
  });

  void it('reads back what an agent reports, and refuses anything else', () => {
    const tags = [
      { key: 'gpu', value: 'h100' },
      { key: 'x', value: '' },
    ];
    assert.deepEqual(reportedTagsOf(reportedTagsText(tags)), tags);
    assert.deepEqual(reportedTagsOf(undefined), []);
    for (const raw of ['{', '{}', '[["a"]]', '[["a",1]]', '[["a","1"],["a","2"]]', '[["","v"]]']) {
      assert.equal(reportedTagsOf(raw), undefined, raw);
    }
    const many = JSON.stringify(Array.from({ length: 21 }, (_, i) => [`k${i}`, '']));
    assert.equal(reportedTagsOf(many), undefined);
  });
});
