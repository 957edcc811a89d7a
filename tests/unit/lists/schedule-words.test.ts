import { scheduleInWords } from '../../../src/lists/schedule-words';

const list = (over: Partial<Parameters<typeof scheduleInWords>[0]>) => ({ language: 'en', timezone: 'UTC', weekly_slot: null, monthly_slot: null, ...over });

describe('how often a list comes, in words of its language', () => {
  it('Chinese: the weekday and the zone as Chinese readers write them', () => {
    expect(scheduleInWords(list({ language: 'zh-CN', timezone: 'Asia/Shanghai', weekly_slot: 'mon 09:00', monthly_slot: '1 09:00' }))).toEqual({
      weekly: '每星期一 09:00（中国标准时间）',
      monthly: '每月 1 日 09:00（中国标准时间）',
    });
  });

  it('English: ordinals, the last day of the month, a zone named by its generic name, UTC as UTC', () => {
    expect(scheduleInWords(list({ timezone: 'Europe/Berlin', weekly_slot: 'fri 17:30', monthly_slot: '31 08:00' }))).toEqual({
      weekly: 'Every Friday at 17:30 (Central European Time)',
      monthly: 'On the last day of each month at 08:00 (Central European Time)',
    });
    const days = ['1 07:05', '2 07:05', '3 07:05', '11 07:05', '22 07:05', '23 07:05'].map((slot) => scheduleInWords(list({ monthly_slot: slot })).monthly);
    expect(days).toEqual(['1st', '2nd', '3rd', '11th', '22nd', '23rd'].map((d) => `On the ${d} of each month at 07:05 (UTC)`));
  });

  it('without slots: what happens instead, not a made-up time', () => {
    expect(scheduleInWords(list({}))).toEqual({ weekly: 'Whenever an issue is ready', monthly: 'Whenever the editor sends one' });
    expect(scheduleInWords(list({ language: 'zh-CN' }))).toEqual({ weekly: '每期完成后寄出', monthly: '编辑发出时寄送' });
  });
});
