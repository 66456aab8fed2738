import { describe, expect, it } from 'vitest';

import { compareRoutePrecedence, parseRouteTemplate } from '../../../../dev/host/http/routeTemplate';

describe('parseRouteTemplate', () => {
  it.each([
    ['hello/{name}', '/hello/bob', { name: 'bob' }],
    ['hello/{name}', '/HELLO/bob/', { name: 'bob' }],
    ['hello/{name?}', '/hello', {}],
    ['items/{id:int}', '/items/-12', { id: '-12' }],
    ['items/{id:int:min(5)}', '/items/7', { id: '7' }],
    ['items/{flag:bool}', '/items/TRUE', { flag: 'TRUE' }],
    ['files/{*rest}', '/files/a/b%20c.txt', { rest: 'a/b c.txt' }],
    ['files/{**rest}', '/files', {}],
    ['{file}.{ext}', '/report.csv', { file: 'report', ext: 'csv' }],
    ['a/{x=def}', '/a', { x: 'def' }],
    [
      'ids/{id:guid}',
      '/ids/0f8fad5b-d9cb-469f-a165-70867728950e',
      { id: '0f8fad5b-d9cb-469f-a165-70867728950e' },
    ],
    ['codes/{c:regex(^[a-z]+-\\d+$)}', '/codes/ab-12', { c: 'ab-12' }],
    ['codes/{c:length(2,3)}', '/codes/abc', { c: 'abc' }],
  ])('matches %s against %s', (template, path, params) => {
    expect(parseRouteTemplate(template).match(path)).toEqual(params);
  });

  it.each([
    ['hello/{name}', '/hello'],
    ['hello/{name}', '/hello/a/b'],
    ['items/{id:int}', '/items/abc'],
    ['items/{id:int:min(5)}', '/items/3'],
    ['ids/{id:guid}', '/ids/nope'],
    ['codes/{c:length(2,3)}', '/codes/abcd'],
    ['exact', '/exact/more'],
  ])('does not match %s against %s', (template, path) => {
    expect(parseRouteTemplate(template).match(path)).toBeUndefined();
  });

  it('fails loudly when a constraint is unknown', () => {
    expect(() => parseRouteTemplate('a/{x:weird}')).toThrow('does not support the route constraint "weird"');
  });

  it('fails when a catch-all is not the last segment', () => {
    expect(() => parseRouteTemplate('a/{*x}/b')).toThrow('catch-all parameter must be the last segment');
  });

  it('orders literal routes before parameter routes before catch-alls', () => {
    const routes = ['items/{*rest}', 'items/{id}', 'items/{id:int}', 'items/special'].map(parseRouteTemplate);
    expect(routes.sort(compareRoutePrecedence).map((r) => r.template)).toEqual([
      'items/special',
      'items/{id:int}',
      'items/{id}',
      'items/{*rest}',
    ]);
  });
});
